/* Map page: the "Copy embed code" button. */
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".gm-copy-status");
    button.addEventListener("click", function () {
      function done(ok) {
        // The words come from the page, in its language.
        if (status) status.textContent = ok ? (button.getAttribute("data-copied") || "Copied.")
          : (button.getAttribute("data-copy-failed") || "Select the code and copy it.");
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(function () { done(true); }, function () {
          source.select(); done(false);
        });
      } else {
        source.focus();
        source.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      }
    });
  });
})();

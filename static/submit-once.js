/* Forms marked data-submit-once: the first submission disables their buttons, so a double
 * click sends one request (the server also folds a repeated import into the first job).
 */
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-submit-once]");
  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-submitted")) { event.preventDefault(); return; }
      form.setAttribute("data-submitted", "1");
      window.setTimeout(function () {  // after the browser has taken the button's value
        Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) {
          b.disabled = true;
          if (b.getAttribute("data-busy")) { b.textContent = b.getAttribute("data-busy"); }
        });
      }, 0);
    });
  });
})();

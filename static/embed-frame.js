/* Inside /embed/<slug>: tell the host page how tall the content is, so it can size the iframe.
 * Message: {type: "geomap:height", height: <CSS px>, href: <this embed's URL>}. The height is
 * not secret, so it goes to any parent; the host script (static/embed.js) checks the origin. */
(function () {
  "use strict";
  if (window.parent === window) return;
  var wrap = document.getElementById("gm-embed-wrap") || document.body;
  var last = 0;
  function post() {
    var height = Math.ceil(wrap.getBoundingClientRect().height);
    if (!height || height === last) return;
    last = height;
    window.parent.postMessage({type: "geomap:height", height: height, href: location.href}, "*");
  }
  if (window.ResizeObserver) new ResizeObserver(post).observe(wrap);
  window.addEventListener("load", post);
  window.addEventListener("resize", post);
  post();
})();

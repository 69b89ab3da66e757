/* geomap host-page script: resizes geomap iframes to the height their content reports.
 *
 *   <iframe src="https://MAPS.HOST/embed/SLUG" ...></iframe>
 *   <script src="https://MAPS.HOST/static/embed.js" async></script>
 *
 * Only messages that come from an iframe on this page, whose origin is the origin this script
 * was loaded from, and whose shape is {type: "geomap:height", height: number} are obeyed. */
(function () {
  "use strict";
  if (window.__geomapEmbed) return;
  window.__geomapEmbed = true;
  var script = document.currentScript;
  var origin;
  try {
    origin = new URL(script && script.src ? script.src : location.href).origin;
  } catch (e) {
    return;
  }
  var MIN = 150, MAX = 5000;

  function frameFor(source) {
    var frames = document.getElementsByTagName("iframe");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === source) return frames[i];
    }
    return null;
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== origin) return;
    var data = event.data;
    if (!data || typeof data !== "object" || data.type !== "geomap:height") return;
    var height = data.height;
    if (typeof height !== "number" || !isFinite(height)) return;
    var frame = frameFor(event.source);
    if (!frame) return;
    var src;
    try { src = new URL(frame.src, location.href); } catch (e) { return; }
    if (src.origin !== origin || src.pathname.indexOf("/embed/") !== 0) return;
    frame.style.height = Math.round(Math.min(MAX, Math.max(MIN, height))) + "px";
    frame.setAttribute("data-geomap-resized", "1");
  });
})();

/* Map page: the embed builder. Its form (#gm-builder) stays hidden without JavaScript, and
 * the page's default snippet then stands alone. With it, the snippet (#gm-snippet), the
 * oEmbed URL (#gm-oembed) and the preview link (#gm-preview) follow the builder's choices
 * and the selection of the filter form (.gm-filter-form), live.
 *
 * URLs are written the way the server writes them (geomap/filters.py: parameters in
 * canonical order, defaults left out, list values sorted), so the snippet names the same
 * rendering (and cache entry) as the server's links. The snippet matches
 * geomap/web/maps.py embed_snippet. */
(function () {
  "use strict";
  var form = document.getElementById("gm-builder");
  var snippet = document.getElementById("gm-snippet");
  if (!form || !snippet || !window.URLSearchParams) return;
  var filters = document.querySelector(".gm-filter-form");
  var oembed = document.getElementById("gm-oembed");
  var preview = document.getElementById("gm-preview");
  var keys = form.getAttribute("data-keys").split(" ");
  var defaults = JSON.parse(form.getAttribute("data-defaults"));
  var defaultHeight = parseInt(form.getAttribute("data-height"), 10);
  var heightInput = form.elements.height;
  var BUILDER_ONLY = ["lang", "units"];

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&#34;").replace(/'/g, "&#39;");
  }

  // Every value a form gives for a name (multi-selects: each selected option).
  function valuesOf(owner, name) {
    if (!owner) return [];
    var out = [];
    Array.prototype.forEach.call(owner.elements, function (el) {
      if (el.name !== name || el.disabled) return;
      if (el.type === "checkbox") {
        if (el.form === form) out.push(el.checked ? "show" : "hide");
        else if (el.checked) out.push(el.value);
      } else if (el.tagName === "SELECT" && el.multiple) {
        Array.prototype.forEach.call(el.selectedOptions, function (o) { out.push(o.value); });
      } else if (el.type !== "submit" && el.type !== "button") {
        out.push(el.value);
      }
    });
    return out.map(function (v) { return v.trim(); }).filter(function (v) { return v !== ""; });
  }

  function height() {
    var value = parseInt(heightInput.value, 10);
    var low = parseInt(heightInput.min, 10), high = parseInt(heightInput.max, 10);
    if (!isFinite(value)) return defaultHeight;
    return Math.min(high, Math.max(low, value));
  }

  function embedQuery() {
    var pairs = [];
    keys.forEach(function (key) {
      // The builder's own fields win over the filter form's (layer, theme).
      var values = valuesOf(form, key);
      // Language and units are the builder's alone: "by default" must not take the page's.
      if (!values.length && BUILDER_ONLY.indexOf(key) < 0) values = valuesOf(filters, key);
      if (key in defaults) {
        if (values.length && values[0] !== defaults[key]) pairs.push([key, values[0]]);
      } else {
        values.slice().sort().forEach(function (v, i, all) {
          if (i === 0 || all[i - 1] !== v) pairs.push([key, v]);
        });
      }
    });
    return new URLSearchParams(pairs).toString();
  }

  function update() {
    var query = embedQuery();
    var src = form.getAttribute("data-embed") + (query ? "?" + query : "");
    var h = height();
    snippet.value = '<iframe src="' + escapeHtml(src) + '" title="' +
      escapeHtml(form.getAttribute("data-title")) + '" width="100%" height="' + h +
      '" style="border:0" loading="lazy"></iframe>\n<script src="' +
      escapeHtml(form.getAttribute("data-embed-js")) + '" async></script>';
    if (oembed) {
      var url = src + (h !== defaultHeight ? (query ? "&" : "?") + "height=" + h : "");
      oembed.value = form.getAttribute("data-oembed") + "?" +
        new URLSearchParams([["url", url]]).toString();
    }
    if (preview) preview.href = src;
  }

  form.hidden = false;
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  [form, filters].forEach(function (owner) {
    if (!owner) return;
    owner.addEventListener("input", update);
    owner.addEventListener("change", update);
  });
  update();
})();

/* geomap layer library: called by the map script that geomap/maps.py renders.
 *
 * Every string that came from data (types, descriptions, region names) is put into the page
 * with textContent, never innerHTML, so nothing from a CSV can become markup or script.
 */
(function () {
  "use strict";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // What the map says, in the page's language (the server's `script_words`; English until
  // `setup` receives them). `t` fills the {n}, {total} and {period} placeholders.
  var W = {locale: "en-US", incident: "Incident", count: "count {n}",
    incidents: "{n} incidents, total count {total}", hidden: "fewer than {n} incidents (hidden)",
    none: "none recorded", play: "Play", pause: "Pause", playLabel: "Play the animation",
    pauseLabel: "Pause the animation", period: "Period", upTo: "up to {period}",
    regional: " drawn · {n} known only by sector or state",
    regionalHidden: " drawn · fewer than {n} known only by sector or state"};

  function t(key, values) {
    return String(W[key]).replace(/\{(\w+)\}/g, function (all, name) {
      return values && values[name] !== undefined ? String(values[name]) : all;
    });
  }

  function fmt(n, digits) {
    return Number(n).toLocaleString(W.locale, digits === undefined ? undefined
      : {maximumFractionDigits: digits});
  }

  function cellPixels(map, cell, lat) {
    var a = map.latLngToContainerPoint([lat, 0]);
    var b = map.latLngToContainerPoint([lat + cell, 0]);
    return Math.abs(a.y - b.y);
  }

  // On a narrow map the attribution wraps and would cover the scale bar and the time
  // control in the bottom-left corner: lift that corner above it, only when they overlap.
  function clearAttribution(map) {
    var corner = map.getContainer().querySelector(".leaflet-bottom.leaflet-left");
    var credit = map.attributionControl && map.attributionControl.getContainer();
    if (!corner || !credit) return;
    corner.style.bottom = "";
    var a = credit.getBoundingClientRect();
    var c = corner.getBoundingClientRect();
    if (a.width && c.width && a.left < c.right) corner.style.bottom = Math.ceil(a.height) + "px";
  }

  // The time control sits in the bottom-left corner (with the scale bar): fit the first
  // view into the part of the map above that corner, so the control never covers the data.
  function frameAboveControls(map) {
    var container = map.getContainer();
    var corner = container.querySelector(".leaflet-bottom.leaflet-left");
    if (!map._gmView || !corner || !corner.querySelector(".gm-time")) return;
    var below = Math.ceil(container.getBoundingClientRect().bottom -
                          corner.getBoundingClientRect().top) + 12;
    var pad = map._gmPad || 30;
    map.fitBounds(map._gmView, {paddingTopLeft: [pad, pad], paddingBottomRight: [pad, below],
                                maxZoom: 9, animate: false});
  }

  // Place names on a map without tiles: rows [lat, lon, name, first zoom, kind] arrive most
  // important first (geomap/maps/placenames.py). At each view, the names whose zoom has come
  // are put on the map in that order, then each one that overlaps a name kept before it, a
  // control or the map's edge, on the right of its dot and then on the left, is taken off
  // again: the rule the static image follows (geomap/maps/placement.py). State and province
  // names give way to towns from `regionsUntil`. The names are what tiles would show: screen
  // readers skip them (the page's table and summary say what the map shows).
  var NAME_CLASSES = ["gm-name gm-name-region", "gm-name gm-name-town", "gm-name gm-name-port"];
  var NAME_GAP = 3;

  function placeNames(map, rows, regionsUntil) {
    var layer = L.layerGroup().addTo(map);
    var container = map.getContainer();
    map.getPane("gmLabels").setAttribute("aria-hidden", "true");

    function draw() {
      var started = performance.now();
      layer.clearLayers();
      var zoom = map.getZoom();
      var view = map.getBounds().pad(0.05);
      var shown = [];
      rows.forEach(function (r) {
        if (zoom < r[3] || (r[4] === 0 && zoom >= regionsUntil)) return;
        if (!view.contains([r[0], r[1]])) return;
        var text = el("span", "gm-name-text", r[2]);
        var marker = L.marker([r[0], r[1]], {
          pane: "gmLabels", interactive: false, keyboard: false,
          icon: L.divIcon({className: NAME_CLASSES[r[4]] || NAME_CLASSES[1], html: text,
                           iconSize: null})
        });
        layer.addLayer(marker);
        shown.push([marker, text]);
      });
      // One layout for all the boxes, then keep in rank order.
      var frame = container.getBoundingClientRect();
      var boxes = shown.map(function (s) { return s[1].getBoundingClientRect(); });
      // Controls (zoom, time, attribution) sit above the names: a name under one is dropped.
      var kept = Array.prototype.map.call(container.querySelectorAll(".leaflet-control"),
        function (c) { return c.getBoundingClientRect(); });
      var controls = kept.length;
      function clear(b) {
        return b.left >= frame.left && b.top >= frame.top &&
          b.right <= frame.right && b.bottom <= frame.bottom &&
          kept.every(function (k) {
            return b.left >= k.right + NAME_GAP || k.left >= b.right + NAME_GAP ||
                   b.top >= k.bottom + NAME_GAP || k.top >= b.bottom + NAME_GAP;
          });
      }
      shown.forEach(function (s, i) {
        var b = boxes[i];
        if (clear(b)) { kept.push(b); return; }
        // A town's name may go on the left of its dot instead (Windsor beside Detroit).
        var icon = s[0].getElement();
        if (icon && !/gm-name-region/.test(icon.className)) {
          icon.classList.add("gm-name-left");
          b = s[1].getBoundingClientRect();
          if (clear(b)) { kept.push(b); return; }
        }
        layer.removeLayer(s[0]);
      });
      container.setAttribute("data-gm-names", String(kept.length - controls));
      container.setAttribute("data-gm-names-ms", (performance.now() - started).toFixed(1));
    }

    // Names are drawn at the next frame, once per frame however many views came before it:
    // the data is drawn without waiting for them (and for the layout their boxes need).
    var pending = 0;
    function schedule() {
      if (!pending) pending = requestAnimationFrame(function () { pending = 0; draw(); });
    }
    map.on("moveend resize", schedule);
    schedule();
  }

  var GeomapLayers = {
    setup: function (map, opts) {
      var container = map.getContainer();
      if (opts.words) W = opts.words;
      if (map.zoomControl && W.zoomIn) {
        var zoomIn = container.querySelector(".leaflet-control-zoom-in");
        var zoomOut = container.querySelector(".leaflet-control-zoom-out");
        if (zoomIn) { zoomIn.title = W.zoomIn; zoomIn.setAttribute("aria-label", W.zoomIn); }
        if (zoomOut) { zoomOut.title = W.zoomOut; zoomOut.setAttribute("aria-label", W.zoomOut); }
      }
      container.setAttribute("data-gm-start-ms", String(Math.round(performance.now())));
      container.classList.add("gm-theme-" + (opts.theme || "light"));
      if (opts.tiles === "openstreetmap" && opts.tileUrl) {
        L.tileLayer(opts.tileUrl, {maxZoom: 18, attribution: opts.attribution}).addTo(map);
      }
      map.setMaxZoom(18);  // markercluster needs it when there is no tile layer
      map.setMinZoom(2);
      map.attributionControl.setPrefix(false);
      // In an article on a phone one finger scrolls the article, not the map (zoom buttons
      // and "View larger map" remain).
      if (opts.embed && L.Browser.mobile) map.dragging.disable();
      // The first view frames where most of the data is (the server's weight box), not
      // every outlier; `done` reframes it above the time control when there is one.
      map._gmView = opts.bounds;
      container.setAttribute("data-gm-view", JSON.stringify(opts.bounds));
      // A whole zoom level is often the difference between a border that fills the map and
      // one half its width: the first view may take half steps (the buttons still step by 1).
      map._gmPad = container.clientWidth < 640 ? 12 : 30;
      map.options.zoomSnap = 0.5;
      // Not animated: a zoom animation still running would end on this view, undoing the
      // reframing above the time control in `done`.
      map.fitBounds(opts.bounds, {padding: [map._gmPad, map._gmPad], maxZoom: 9, animate: false});
      map.createPane("gmBasemap").style.zIndex = 250;
      map.createPane("gmLabels").style.zIndex = 450;
      map.getPane("gmLabels").style.pointerEvents = "none";
      container.setAttribute("data-gm-ready", "1");
    },

    basemap: function (map, data) {
      // Our own constant credit (not data; in the page's language when `setup` gave it):
      // Leaflet shows attributions as HTML.
      if (data.attribution) map.attributionControl.addAttribution(W.attribution || data.attribution);
      if (data.land) {
        L.geoJSON(data.land, {
          pane: "gmBasemap", interactive: false,
          style: function () { return {className: "gm-land", weight: 0.6, color: "#b3ab9c", fillColor: "#f3efe6", fillOpacity: 1}; }
        }).addTo(map);
      }
      if (data.border) {
        L.geoJSON(data.border, {
          pane: "gmBasemap", interactive: false,
          style: function () { return {className: "gm-border", weight: 1.6, color: "#6b5b95", dashArray: "5 3"}; }
        }).addTo(map);
      }
      if (data.names) placeNames(map, data.names, data.regionsUntil || 8);
    },

    heat: function (map, data) {
      function radiusNow() {
        var px = data.cell ? cellPixels(map, data.cell, map.getCenter().lat) : 10;
        return Math.max(6, Math.min(30, px * 1.2));
      }
      var radius = radiusNow();
      // maxZoom 0: leaflet.heat would otherwise dim every point by 2^(maxZoom - zoom); the
      // server has already summed incidents per cell, so intensity is the cell's weight.
      var layer = L.heatLayer(data.cells, {radius: radius, blur: Math.max(4, radius * 0.8),
        minOpacity: 0.3, maxZoom: 0, max: 1.0,
        gradient: {0.2: "#2c7bb6", 0.4: "#00a6ca", 0.6: "#90eb9d", 0.8: "#f9d057", 1.0: "#d7191c"}});
      layer.addTo(map);  // draws once, sized for the first view
      map.on("zoomend", function () {
        var r = radiusNow();
        if (Math.abs(r - layer.options.radius) > 0.5) layer.setOptions({radius: r, blur: Math.max(4, r * 0.8)});
      });
      return layer;
    },

    done: function (map) {
      clearAttribution(map);
      frameAboveControls(map);
      map.on("resize", function () { clearAttribution(map); });
      // Time from navigation start until every layer of this map was added (benchmarks).
      map.getContainer().setAttribute("data-gm-script-ms", String(Math.round(performance.now())));
    },

    cells: function (map, data) {
      var renderer = L.canvas({padding: 0.2});  // thousands of circles: canvas, not SVG nodes
      var max = 1;
      data.cells.forEach(function (c) { if (c[3] > max) max = c[3]; });
      var group = L.featureGroup();
      data.cells.forEach(function (c) {
        var radius = 3 + 18 * Math.sqrt(c[3] / max);
        var marker = L.circleMarker([c[0], c[1]], {radius: radius, renderer: renderer,
          color: "#7a0177", weight: 1, fillColor: "#c51b8a", fillOpacity: 0.55});
        marker.bindTooltip(function () {
          return el("span", null, t("incidents", {n: fmt(c[2]), total: fmt(c[3])}));
        });
        group.addLayer(marker);
      });
      group.addTo(map);
      return group;
    },

    cluster: function (map, data) {
      var group = L.markerClusterGroup({showCoverageOnHover: false, chunkedLoading: true,
        maxClusterRadius: 50});
      var markers = data.rows.map(function (r) {
        var marker = L.circleMarker([r[0], r[1]], {radius: 5 + Math.min(10, Math.sqrt(r[2]) * 2),
          className: "gm-marker", color: "#08306b", weight: 1.5, fillColor: "#2171b5", fillOpacity: 0.8});
        marker.bindPopup(function () {
          var box = el("div", "gm-popup");
          box.appendChild(el("p", "gm-popup-type", data.types[r[3]] || W.incident));
          if (data.places && data.places[r[6]]) box.appendChild(el("p", "gm-popup-place", data.places[r[6]]));
          // The border mile (or km) in the reader's units: `payloads.cluster_payload`.
          var mile = (r[7] === null || r[7] === undefined) ? ""
            : String(data.borderPosition || "border mile {n}").replace("{n}", fmt(r[7]));
          box.appendChild(el("p", "gm-popup-meta",
            [data.dates[r[4]], data.directions[r[5]], t("count", {n: fmt(r[2])}), mile].filter(Boolean).join(" · ")));
          if (r[8]) box.appendChild(el("p", "gm-popup-text", r[8]));
          return box;
        });
        return marker;
      });
      group.addLayers(markers);
      group.addTo(map);
      return group;
    },

    regions: function (map, data) {
      if (data.attribution) map.attributionControl.addAttribution(data.attribution);
      var layer = L.geoJSON(data.features, {
        style: function (f) {
          var p = f.properties;
          // The server picked every colour (legend and map share them, in both themes).
          var none = !p.hidden && !p.n;
          if (data.lines) {
            return {className: "gm-segment" + (none ? " gm-none" : ""), color: p.fill,
              weight: none ? 2 : 6, opacity: data.opacity};
          }
          return {className: "gm-region" + (none ? " gm-none" : ""), color: "#636363",
            weight: 1, fillColor: p.fill, fillOpacity: data.opacity};
        },
        onEachFeature: function (f, lyr) {
          lyr.bindTooltip(function () {
            var p = f.properties;
            var box = el("div", "gm-tip");
            box.appendChild(el("strong", null, p.name || p.code));
            if (p.where) box.appendChild(el("div", "gm-tip-where", p.where));
            var line;
            if (p.hidden) line = t("hidden", {n: fmt(data.minCount)});
            else if (!p.n) line = W.none;
            else line = t("incidents", {n: fmt(p.n), total: fmt(p.total)}) +
              (data.per ? " (" + fmt(p.value, 2) + " " + data.per + ")" : "");
            box.appendChild(el("div", null, line));
            return box;
          }, {sticky: true});
        }
      });
      layer.addTo(map);
      return layer;
    },

    time: function (map, data) {
      // Each frame is [point, weight in thousandths, point, weight, ...] (payloads.time_payload).
      var frames = data.frames.map(function (flat) {
        var out = [];
        for (var k = 0; k + 1 < flat.length; k += 2) {
          var p = data.points[flat[k]];
          out.push([p[0], p[1], flat[k + 1] / 1000]);
        }
        return out;
      });
      var heat = GeomapLayers.heat(map, {cells: frames.length ? frames[0] : [], cell: data.cell});
      if (!frames.length) return heat;
      var index = 0;
      var timer = null;
      // Records of the frame known only by sector or state (counted, not drawn): null is
      // fewer than minCount records (hidden), as the legend's small-count rule says.
      function regionalText(i) {
        if (!data.regional) return "";
        var r = data.regional[i];
        if (r === null) return t("regionalHidden", {n: fmt(data.minCount)});
        return r ? t("regional", {n: fmt(r)}) : "";
      }
      var Control = L.Control.extend({
        options: {position: "bottomleft"},
        onAdd: function () {
          var box = el("div", "gm-time leaflet-bar");
          var button = el("button", "gm-time-play", W.play);
          button.type = "button";
          button.setAttribute("aria-label", W.playLabel);
          var range = el("input", "gm-time-range");
          range.type = "range";
          range.min = "0";
          range.max = String(frames.length - 1);
          range.value = "0";
          range.setAttribute("aria-label", W.period);
          var label = el("output", "gm-time-label");
          label.setAttribute("aria-live", "polite");
          box.appendChild(button);
          box.appendChild(range);
          box.appendChild(label);
          L.DomEvent.disableClickPropagation(box);
          L.DomEvent.disableScrollPropagation(box);
          function show(i, initial) {
            index = i;
            range.value = String(i);
            // The period as the page's language says it (payloads.time_payload).
            var period = data.labels ? data.labels[i] : data.periods[i];
            label.textContent = (data.cumulative ? t("upTo", {period: period}) : period) + " · " +
              fmt(data.totals[i] || 0) + regionalText(i);
            if (!initial) heat.setLatLngs(frames[i]);  // the first frame is already drawn
          }
          function stop() {
            if (timer) { clearInterval(timer); timer = null; }
            button.textContent = W.play;
            button.setAttribute("aria-label", W.playLabel);
          }
          button.addEventListener("click", function () {
            if (timer) { stop(); return; }
            button.textContent = W.pause;
            button.setAttribute("aria-label", W.pauseLabel);
            timer = setInterval(function () {
              if (index >= frames.length - 1) { stop(); return; }
              show(index + 1);
            }, 900);
          });
          range.addEventListener("input", function () { stop(); show(Number(range.value)); });
          show(0, true);
          return box;
        }
      });
      new Control().addTo(map);
      return heat;
    }
  };

  window.GeomapLayers = GeomapLayers;
})();

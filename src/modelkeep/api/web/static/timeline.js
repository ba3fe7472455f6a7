// The model page's timeline: one metric across the versions in order (uPlot), with a marker at
// each version an alias moved to (green: a promotion, red: a rollback, blue: a direct move).
(function () {
  "use strict";
  var box = document.getElementById("timeline");
  if (!box || typeof uPlot === "undefined") { return; }
  fetch(box.dataset.src, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (doc) {
    var xs = doc.versions.map(function (_, i) { return i; });
    var marks = {};
    doc.events.forEach(function (e) { if (e.version && !(e.version in marks)) { marks[e.version] = e; } });
    var colors = { promotion: "#1b7f3b", rollback: "#b3261e", direct: "#2456c8" };
    var markerPlugin = {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          doc.versions.forEach(function (v, i) {
            var e = marks[v];
            if (!e) { return; }
            var x = u.valToPos(i, "x", true);
            ctx.save();
            ctx.strokeStyle = colors[e.via] || "#888";
            ctx.setLineDash([4, 4]);
            ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
            ctx.fillStyle = ctx.strokeStyle;
            ctx.font = "11px system-ui";
            ctx.fillText(e.alias + " (" + e.via + ")", x + 3, u.bbox.top + 12);
            ctx.restore();
          });
        }]
      }
    };
    var opts = {
      width: box.clientWidth || 900, height: 300, plugins: [markerPlugin],
      scales: { x: { time: false } },
      axes: [{ incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000], values: function (u, ticks) { return ticks.map(function (t) { return doc.versions[t] || ""; }); } }, {}],
      series: [{ label: "version", value: function (u, i) { return doc.versions[i] || ""; } },
               { label: doc.metric, stroke: "#2456c8", points: { show: doc.versions.length < 300 } }]
    };
    box.textContent = "";
    new uPlot(opts, [xs, doc.values], box);
    box.dataset.ready = "1";
  });
})();

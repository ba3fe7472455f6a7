// The model page's timeline: one metric across the versions in order (uPlot), with a marker at
// each version an alias moved to (green: a promotion, red: a rollback, blue: a direct move).
(function () {
  "use strict";
  var box = document.getElementById("timeline");
  if (!box || typeof uPlot === "undefined") { return; }
  fetch(box.dataset.src, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (doc) {
    var xs = doc.versions.map(function (_, i) { return i; });
    var marks = {};  // version → the alias moves to it, newest first (the line takes the newest's color)
    doc.events.forEach(function (e) { if (e.version) { (marks[e.version] = marks[e.version] || []).push(e); } });
    var colors = { promotion: "#1b7f3b", rollback: "#b3261e", direct: "#2456c8" };
    var markerPlugin = {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          doc.versions.forEach(function (v, i) {
            var moves = marks[v];
            if (!moves) { return; }
            var e = moves[0];
            var x = u.valToPos(i, "x", true);
            ctx.save();
            ctx.strokeStyle = colors[e.via] || "#888";
            ctx.setLineDash([4, 4]);
            ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
            ctx.fillStyle = ctx.strokeStyle;
            ctx.font = "11px system-ui";
            moves.slice(0, 4).forEach(function (m, k) {
              ctx.fillStyle = colors[m.via] || "#888";
              ctx.fillText(m.alias + " (" + m.via + ")", x + 3, u.bbox.top + 12 + 13 * k);
            });
            ctx.restore();
          });
        }]
      }
    };
    var opts = {
      width: box.clientWidth || 900, height: 300, plugins: [markerPlugin], padding: [16, 48, 0, 0],
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

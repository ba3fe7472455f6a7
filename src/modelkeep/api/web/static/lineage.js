// The lineage graph (Cytoscape): datasets, runs and versions left to right; a grouped node
// (many sibling leaves of one kind) expands into its members on click; any other node opens
// its own page.
(function () {
  "use strict";
  var box = document.getElementById("graph");
  if (!box || typeof cytoscape === "undefined") { return; }
  var colors = { dataset: "#c77d0a", run: "#6b4fbb", model_version: "#2456c8", cluster: "#555" };
  function element(n) {
    return { group: "nodes", data: { id: n.id, label: n.label + ((n.aliases || []).length ? " [" + n.aliases.join(", ") + "]" : ""),
             kind: n.kind, members: n.members, anchor: n.anchor } };
  }
  function edge(src, dst) { return { group: "edges", data: { id: src + "->" + dst, source: src, target: dst } }; }
  function href(n) {
    var label = n.data("label").split(" [")[0];
    if (n.data("kind") === "model_version") {
      var parts = label.split("@");
      return "/ui/models/" + encodeURIComponent(parts[0]) + "/versions/" + encodeURIComponent(parts[1]);
    }
    if (n.data("kind") === "run") { return "/ui/runs/" + n.id().split(":")[1]; }
    if (n.data("kind") === "dataset") { return "/ui/datasets/" + encodeURIComponent(label.split("@")[0]); }
    return null;
  }
  fetch(box.dataset.src, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (g) {
    var elements = g.nodes.map(element).concat(g.edges.map(function (e) { return edge(e.src, e.dst); }));
    var cy = cytoscape({
      container: box, elements: elements, wheelSensitivity: 0.3, maxZoom: 1.5,
      style: [
        { selector: "node", style: { label: "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 4,
                                     "background-color": function (n) { return colors[n.data("kind")] || "#888"; } } },
        { selector: "node[kind = 'cluster']", style: { shape: "round-rectangle", width: 40, height: 24 } },
        { selector: "node[id = '" + g.root.replace(/'/g, "\\'") + "']", style: { "border-width": 3, "border-color": "#111" } },
        { selector: "edge", style: { width: 1, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#aab" } }
      ],
      layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1 }
    });
    cy.on("tap", "node", function (evt) {
      var n = evt.target;
      if (n.data("kind") === "cluster") {
        var anchor = n.data("anchor"), out = n.outgoers("edge").length > 0;
        var added = n.data("members").map(element);
        n.data("members").forEach(function (m) { added.push(out ? edge(m.id, anchor) : edge(anchor, m.id)); });
        cy.remove(n);
        cy.add(added);
        cy.layout({ name: "breadthfirst", directed: true, spacingFactor: 1.1 }).run();
        box.dataset.expanded = String(Number(box.dataset.expanded || 0) + 1);
        return;
      }
      var url = href(n);
      if (url) { window.location.href = url; }
    });
    window.modelkeepLineage = cy;  // for a person's console, and the browser tests' clicks
    box.dataset.ready = String(cy.nodes().length);
  });
})();

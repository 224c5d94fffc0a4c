/* Lists as cards on a phone (issue 17): each cell of a table with a header row carries its
   column's name (data-label), which app.css shows before the value below 768 px, where the
   rows are stacked as cards instead of scrolling sideways. Wider screens keep the table. */
(function () {
  "use strict";
  var tables = document.querySelectorAll(".table-responsive > table.table, table.table-cards");
  Array.prototype.forEach.call(tables, function (table) {
    var head = table.tHead ? table.tHead.rows[0] : null;
    if (!head) { return; }
    var labels = Array.prototype.map.call(head.cells, function (cell) {
      var text = (cell.textContent || "").replace(/\s+/g, " ").trim();
      if (!text) { cell.classList.add("cell-unlabelled"); }
      return text;
    });
    table.classList.add("table-cards");
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        Array.prototype.forEach.call(row.cells, function (cell, i) {
          var label = labels[i];
          if (label && !cell.hasAttribute("data-label")) { cell.setAttribute("data-label", label); }
          if (!label) { cell.classList.add("cell-unlabelled"); }
        });
      });
    });
  });
})();

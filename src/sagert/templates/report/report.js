// sagert report: builds the records table from the embedded JSON. Data is inserted with
// textContent only (never innerHTML): the texts are jailbreaks and may hold markup.
(function () {
  "use strict";
  var PAGE = 200;
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var rows = data.rows || [];
  var tbody = document.querySelector("#records-table tbody");
  var search = document.getElementById("filter-text");
  var verdictSelect = document.getElementById("filter-verdict");
  var categorySelect = document.getElementById("filter-category");
  var count = document.getElementById("filter-count");
  var more = document.getElementById("show-more");
  var limit = PAGE;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function options(select, values) {
    values.forEach(function (value) {
      var option = el("option", null, value);
      option.value = value;
      select.appendChild(option);
    });
  }

  function unique(pick) {
    var seen = {};
    rows.forEach(function (row) {
      pick(row).forEach(function (value) { if (value) { seen[value] = true; } });
    });
    return Object.keys(seen).sort();
  }

  rows.forEach(function (row) {
    var parts = [row.category, row.where, row.status, row.prompt, row.original, row.error];
    (row.responses || []).forEach(function (r) { parts.push(r.who, r.text); });
    (row.verdicts || []).forEach(function (v) { parts.push(v.judge, v.verdict, v.detail); });
    (row.lineage || []).forEach(function (s) { parts.push(s.name); });
    row.haystack = parts.join("\n").toLowerCase();
  });
  options(verdictSelect, unique(function (row) { return row.tags || []; }));
  options(categorySelect, unique(function (row) { return [row.macro]; }));

  function promptCell(row) {
    var td = el("td");
    td.appendChild(el("div", "text", row.prompt));
    if (row.original) {
      var original = el("details");
      original.appendChild(el("summary", null, "before attacks"));
      original.appendChild(el("div", "text", row.original));
      td.appendChild(original);
    }
    if (row.lineage && row.lineage.length) {
      var details = el("details");
      details.appendChild(el("summary", null, "lineage (" + row.lineage.length + (row.lineage.length === 1 ? " step)" : " steps)")));
      var list = el("ol");
      row.lineage.forEach(function (step) {
        var item = el("li");
        item.appendChild(el("div", "who", step.name));
        item.appendChild(el("div", "text", step.text));
        list.appendChild(item);
      });
      details.appendChild(list);
      td.appendChild(details);
    }
    return td;
  }

  function responsesCell(row) {
    var td = el("td");
    (row.responses || []).forEach(function (r) {
      td.appendChild(el("div", "who", r.who));
      td.appendChild(el("div", "text", r.text));
    });
    if (row.error) { td.appendChild(el("div", "error", row.error)); }
    return td;
  }

  function verdictsCell(row) {
    var td = el("td");
    td.appendChild(el("div", "status", row.status));
    (row.verdicts || []).forEach(function (v) {
      var line = el("div");
      line.appendChild(el("span", "verdict " + String(v.verdict).replace(/[^a-z]/g, ""), v.verdict));
      line.appendChild(document.createTextNode(" " + v.judge));
      if (v.detail) { line.appendChild(el("div", "detail", v.detail)); }
      td.appendChild(line);
    });
    return td;
  }

  function render() {
    var needle = search.value.trim().toLowerCase();
    var verdict = verdictSelect.value;
    var category = categorySelect.value;
    var matches = rows.filter(function (row) {
      return (!needle || row.haystack.indexOf(needle) !== -1) &&
        (!verdict || (row.tags || []).indexOf(verdict) !== -1) &&
        (!category || row.macro === category);
    });
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    matches.slice(0, limit).forEach(function (row, i) {
      var tr = el("tr");
      tr.appendChild(el("td", null, i + 1));
      var where = el("td");
      where.appendChild(el("div", null, row.category));
      where.appendChild(el("div", "status", row.where));
      tr.appendChild(where);
      tr.appendChild(promptCell(row));
      tr.appendChild(responsesCell(row));
      tr.appendChild(verdictsCell(row));
      tbody.appendChild(tr);
    });
    count.textContent = matches.length + " of " + rows.length + " shown rows match";
    more.hidden = matches.length <= limit;
  }

  var timer = null;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { limit = PAGE; render(); }, 120);
  });
  verdictSelect.addEventListener("change", function () { limit = PAGE; render(); });
  categorySelect.addEventListener("change", function () { limit = PAGE; render(); });
  more.addEventListener("click", function () { limit += PAGE; render(); });
  render();
  document.body.setAttribute("data-rendered", "yes");
}());

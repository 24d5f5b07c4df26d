// The configuration screens' behaviour (no inline scripts: the CSP allows scripts from this server only).

// Company-type priority (SB-2): plain HTML5 drag and drop over <ol data-order-input="ID">; the hidden input with
// that id holds the order as one comma-separated value, so the form posts it whether or not scripts run
// (without them, the up/down buttons post a move instead).
function priorityLists() {
  document.querySelectorAll("ol[data-order-input]").forEach((list) => {
    if (list.dataset.ready) return;
    list.dataset.ready = "1";
    const input = document.getElementById(list.dataset.orderInput);
    const sync = () => {
      if (input) input.value = [...list.querySelectorAll("li")].map((li) => li.dataset.value).join("\n");
    };
    let dragged = null;
    list.querySelectorAll("li").forEach((li) => {
      li.draggable = true;
      li.addEventListener("dragstart", (event) => {
        dragged = li;
        li.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", li.dataset.value);
      });
      li.addEventListener("dragend", () => {
        li.classList.remove("dragging");
        list.querySelectorAll("li.over").forEach((other) => other.classList.remove("over"));
        dragged = null;
        sync();
      });
      li.addEventListener("dragover", (event) => {
        event.preventDefault();
        li.classList.add("over");
      });
      li.addEventListener("dragleave", () => li.classList.remove("over"));
      li.addEventListener("drop", (event) => {
        event.preventDefault();
        li.classList.remove("over");
        if (!dragged || dragged === li) return;
        const items = [...list.children];
        const before = items.indexOf(dragged) > items.indexOf(li) ? li : li.nextSibling;
        list.insertBefore(dragged, before);
        sync();
      });
    });
    sync();
  });
}

// The company picker: a result button fills the form's fields named in data-fill (JSON) and clears the results.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-fill]") : null;
  if (!button) return;
  event.preventDefault();
  const values = JSON.parse(button.dataset.fill);
  const form = button.closest("form");
  for (const [name, value] of Object.entries(values)) {
    const field = form ? form.querySelector(`[name="${name}"]`) : null;
    if (field) field.value = value;
  }
  const results = button.closest(".picker-results");
  if (results) results.innerHTML = "";
});

document.addEventListener("DOMContentLoaded", priorityLists);
document.addEventListener("htmx:afterSwap", priorityLists);

// Order page: the refund total as staff type, the confirmations of a cancellation and of a parcel that completes
// the order shown when they apply, and forms that cannot be sent twice by a double click.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("refund-form");
  if (form) {
    const decimals = parseInt(form.dataset.decimals || "2", 10);
    const total = document.getElementById("refund-total");
    const amountOf = (item) => form.querySelector(`.refund-amount[data-item="${item}"]`);
    const qtyOf = (item) => form.querySelector(`.refund-qty[data-item="${item}"]`);
    const count = (qty) => (qty && !qty.disabled ? parseInt(qty.value || "0", 10) || 0 : 0);
    // What the server refunds for a blank amount beside a quantity: the items at their price, and the last ones
    // what is left of the line (so that rounding each unit strands no cent).
    const atPrice = (qty, amount) => {
      const n = count(qty);
      if (!n) return "";
      const left = parseInt(qty.dataset.left || "0", 10);
      const value = n === left ? parseFloat(amount.dataset.max) : parseFloat(qty.dataset.unit) * n;
      return (Math.round(value * 10 ** decimals + 1e-6) / 10 ** decimals).toFixed(decimals);
    };
    // An amount filled in from the quantity follows the quantity; one staff typed (0 included: restock only) stays.
    const filled = new Map();
    const recompute = () => {
      let sum = 0;
      for (const amount of form.querySelectorAll(".refund-amount")) {
        const text = amount.value.trim();
        const value = text ? parseFloat(text.replace(",", ".")) : parseFloat(atPrice(qtyOf(amount.dataset.item), amount) || "0");
        if (!Number.isNaN(value)) sum += value;
      }
      total.textContent = sum.toFixed(decimals);
    };
    for (const qty of form.querySelectorAll(".refund-qty")) {
      const amount = amountOf(qty.dataset.item);
      if (!amount) continue;
      filled.set(qty.dataset.item, atPrice(qty, amount));
      qty.addEventListener("input", () => {
        const current = amount.value.trim();
        if (current === "" || current === filled.get(qty.dataset.item)) {
          const value = atPrice(qty, amount);
          amount.value = value;
          filled.set(qty.dataset.item, value);
        }
        recompute();
      });
    }
    for (const amount of form.querySelectorAll(".refund-amount")) amount.addEventListener("input", recompute);
    recompute();
  }
  for (const id of ["refund-form", "tracking-form"]) {
    const once = document.getElementById(id);
    if (!once) continue;
    // The server answers a second post of the same form (same token) with what the first made; the disabled
    // button spares staff the doubt.
    once.addEventListener("submit", () => {
      for (const button of once.querySelectorAll("button[type=submit]")) button.disabled = true;
    });
  }
  // A page brought back from the browser's cache (Back) shows its buttons usable again.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    for (const button of document.querySelectorAll("#refund-form button[type=submit], #tracking-form button[type=submit]")) {
      button.disabled = false;
    }
  });
  // The cancel confirmation is asked only when *cancelled* is chosen (without JavaScript it is always shown, and the
  // server asks for it all the same).
  const status = document.getElementById("status-form");
  const statusConfirm = document.getElementById("status-confirm");
  if (status && statusConfirm) {
    const select = status.querySelector("select[name=status]");
    const follow = () => {
      const cancelling = select && select.value === "cancelled";
      statusConfirm.hidden = !cancelling && !statusConfirm.querySelector(".errorlist");
      if (!cancelling) statusConfirm.querySelector("input[type=checkbox]").checked = false;
    };
    if (select) select.addEventListener("change", follow);
    follow();
  }

  // A parcel of everything left completes the order: its confirmation is shown when the quantities add up to it.
  const tracking = document.getElementById("tracking-form");
  const completeConfirm = document.getElementById("complete-confirm");
  if (tracking && completeConfirm) {
    const quantities = [...tracking.querySelectorAll(".ship-qty")];
    const follow = () => {
      const everything = quantities.every((qty) => (parseInt(qty.value || "0", 10) || 0) >= parseInt(qty.dataset.left || "0", 10));
      completeConfirm.hidden = !everything && !completeConfirm.querySelector(".errorlist");
      if (!everything) completeConfirm.querySelector("input[type=checkbox]").checked = false;
    };
    for (const qty of quantities) qty.addEventListener("input", follow);
    follow();
  }

  // "Add a shipment" and the like, reached by a link or the address's #: their folded section opens.
  const openTarget = () => {
    const target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target && target.tagName === "DETAILS") target.open = true;
  };
  window.addEventListener("hashchange", openTarget);
  openTarget();

  // WooCommerce's own notes, asked for when staff want them (one call to the shop, not one per page view), shown
  // in place; without JavaScript the link opens them on their own.
  const wooNotes = document.getElementById("woo-notes");
  const wooNotesLink = document.getElementById("woo-notes-link");
  if (wooNotes && wooNotesLink) {
    wooNotesLink.addEventListener("click", (event) => {
      event.preventDefault();
      wooNotes.textContent = wooNotes.dataset.loading;
      fetch(wooNotesLink.href, {credentials: "same-origin"})
        .then((response) => response.text())
        .then((html) => { wooNotes.innerHTML = html; })
        .catch(() => { wooNotes.textContent = wooNotes.dataset.failed; });
    });
  }
});

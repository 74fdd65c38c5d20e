// Order page: the refund total as staff type, and a confirmation before cancelling an order.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("refund-form");
  if (form) {
    const decimals = parseInt(form.dataset.decimals || "2", 10);
    const total = document.getElementById("refund-total");
    const amounts = [...form.querySelectorAll(".refund-amount")];
    const touched = new Set();
    const recompute = () => {
      let sum = 0;
      for (const input of amounts) {
        const value = parseFloat((input.value || "0").replace(",", "."));
        if (!Number.isNaN(value)) sum += value;
      }
      total.textContent = sum.toFixed(decimals);
    };
    for (const input of amounts) {
      input.addEventListener("input", () => { touched.add(input.dataset.item); recompute(); });
    }
    for (const qty of form.querySelectorAll(".refund-qty")) {
      qty.addEventListener("input", () => {
        const amount = form.querySelector(`.refund-amount[data-item="${qty.dataset.item}"]`);
        if (amount && !touched.has(qty.dataset.item)) {
          const n = parseInt(qty.value || "0", 10) || 0;
          amount.value = n ? (parseFloat(qty.dataset.unit) * n).toFixed(decimals) : "";
        }
        recompute();
      });
    }
    recompute();
  }
  const status = document.getElementById("status-form");
  if (status) {
    status.addEventListener("submit", (event) => {
      const select = status.querySelector("select[name=status]");
      if (select && select.value === "cancelled" && !window.confirm(status.dataset.confirm || "Cancel this order?")) {
        event.preventDefault();
      }
    });
  }
});

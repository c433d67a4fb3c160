// Instant hints on the request form: the chosen template's limits and what the quota leaves.
// The server checks everything again; these only save a round trip.
// One message per problem: a field the server marked keeps the server's words until the person edits
// it; from then on the hint speaks and the server's (now stale) message is taken away.
(function () {
  "use strict";
  const form = document.getElementById("request-form");
  if (!form) return;
  const limits = KVM.jsonScript("template-limits", {});
  const quota = KVM.jsonScript("quota-left", {});
  const text = KVM.jsonScript("form-messages", {});
  const fields = { vcpus: "id_vcpus", memory_mib: "id_memory_mib", disk_gib: "id_disk_gib" };
  const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
  const edited = new Set();

  function chosen() {
    const radio = form.querySelector('input[name="template"]:checked');
    return radio ? radio.value : null;
  }

  function serverErrors(input) {
    return input ? document.getElementById(input.id + "-errors") : null;
  }

  function describedBy(input, id, on) {
    const ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) { return x && x !== id; });
    if (on) ids.unshift(id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  function hint(name, message) {
    const el = form.querySelector('[data-hint-for="' + name + '"]');
    const input = form.querySelector('[name="' + name + '"]');
    if (!el || !input) return;
    const server = serverErrors(input);
    if (server && !edited.has(name)) return; // the server already said it, once
    if (server) {
      describedBy(input, server.id, false);
      server.remove();
      const field = input.closest(".field");
      if (field) field.classList.remove("invalid");
    }
    if (!el.id) el.id = input.id + "-hint";
    el.textContent = message || "";
    el.classList.toggle("bad", !!message);
    describedBy(input, el.id, !!message);
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function check() {
    const t = limits[chosen()];
    let ok = true;
    Object.keys(fields).forEach(function (key) {
      const input = document.getElementById(fields[key]);
      if (!input || !t) return;
      input.max = t[key][1];
      input.min = 1;
      const raw = input.value.trim();
      const value = Number(raw);
      let message = "";
      if (raw === "" || !Number.isInteger(value)) message = text.whole;
      else if (value < 1) message = text.min;
      else if (value > t[key][1]) message = text.max.replace("%(max)s", t[key][1]);
      else if (quota[key] && value > quota[key].left) message = text.quota.replace("%(left)s", quota[key].left);
      hint(key, message);
      if (message) ok = false;
    });
    const name = form.querySelector('[name="name"]');
    if (name && name.value) {
      const bad = !NAME_RE.test(name.value);
      hint("name", bad ? text.name : "");
      if (bad) ok = false;
    }
    return ok;
  }

  function selectTemplate(pk, setDefaults) {
    form.querySelectorAll("[data-template-card]").forEach(function (card) {
      card.classList.toggle("selected", card.dataset.templateCard === pk);
    });
    const t = limits[pk];
    if (t && setDefaults) {
      Object.keys(fields).forEach(function (key) {
        const input = document.getElementById(fields[key]);
        if (input) {
          input.value = t[key][0];
          edited.add(key); // new values: the server's words about the old ones no longer apply
        }
      });
    }
    check();
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "template") selectTemplate(event.target.value, true);
  });
  form.addEventListener("input", function (event) {
    if (event.target.name) edited.add(event.target.name);
    check();
  });
  if (chosen()) selectTemplate(chosen(), false);
})();

// Poll the execution's progress every second until it is finished; then show its outcome in
// place of the bar (a failed or rejected run with its reason) and reload for the full result.
"use strict";
{
  const box = document.getElementById("execution-progress");
  const showOutcome = (data) => {
    const outcome = document.createElement("div");
    outcome.id = "execution-outcome";
    outcome.className = "execution-outcome outcome-" + data.outcome;
    if (data.outcome !== "completed") {
      outcome.setAttribute("role", "alert");
    }
    const title = document.createElement("h2");
    title.className = "outcome-title";
    title.textContent = data.outcome_label;
    const status = document.createElement("span");
    status.className = "progress-status status status-" + data.status;
    status.textContent = data.status_label;
    const statusLine = document.createElement("p");
    statusLine.append(status);
    outcome.append(title, statusLine);
    if (data.reason) {
      const reason = document.createElement("p");
      reason.className = "outcome-reason";
      reason.textContent = data.reason;
      outcome.append(reason);
    }
    box.replaceChildren(outcome);
  };
  if (box && box.dataset.done !== "true") {
    const bar = box.querySelector("progress");
    const text = box.querySelector(".progress-text");
    const status = box.querySelector(".progress-status");
    const poll = async () => {
      try {
        const response = await fetch(box.dataset.url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
        if (response.ok) {
          const data = await response.json();
          if (data.done) {
            box.dataset.done = "true";
            showOutcome(data);
            window.location.reload();
            return;
          }
          bar.value = data.percent;
          status.textContent = data.status_label;
          status.className = "progress-status status status-" + data.status;
          text.textContent = box.dataset.template
            .replace("{phase}", data.phase_label)
            .replace("{percent}", data.percent)
            .replace("{rows}", data.rows.toLocaleString())
            .replace("{bytes}", data.bytes.toLocaleString())
            .replace("{size}", data.size.toLocaleString());
        }
      } catch (error) {
        // A missed poll is retried on the next tick.
      }
      window.setTimeout(poll, 1000);
    };
    window.setTimeout(poll, 1000);
  }
}

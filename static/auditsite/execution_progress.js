// Poll the execution's progress every second until it is finished, then reload for the result.
"use strict";
{
  const box = document.getElementById("execution-progress");
  if (box && box.dataset.done !== "true") {
    const bar = box.querySelector("progress");
    const text = box.querySelector(".progress-text");
    const status = box.querySelector(".progress-status");
    const poll = async () => {
      try {
        const response = await fetch(box.dataset.url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
        if (response.ok) {
          const data = await response.json();
          bar.value = data.percent;
          status.textContent = data.status_label;
          status.className = "progress-status status status-" + data.status;
          text.textContent = box.dataset.template
            .replace("{phase}", data.phase_label)
            .replace("{percent}", data.percent)
            .replace("{rows}", data.rows.toLocaleString())
            .replace("{bytes}", data.bytes.toLocaleString())
            .replace("{size}", data.size.toLocaleString());
          if (data.done) {
            box.dataset.done = "true";
            window.location.reload();
            return;
          }
        }
      } catch (error) {
        // A missed poll is retried on the next tick.
      }
      window.setTimeout(poll, 1000);
    };
    window.setTimeout(poll, 1000);
  }
}

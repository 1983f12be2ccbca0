// Refuse a file beyond MAX_UPLOAD_MB before sending it (the server refuses it too).
"use strict";
{
  const input = document.querySelector("input[type=file][data-max-bytes]");
  const warning = document.getElementById("file-too-large");
  const submit = document.querySelector("#upload-form [type=submit]");
  if (input && warning && submit) {
    input.addEventListener("change", () => {
      const tooLarge = input.files.length > 0 && input.files[0].size > Number(input.dataset.maxBytes);
      warning.hidden = !tooLarge;
      submit.disabled = tooLarge;
    });
  }
}

// A file sent as the body of a POST, with its progress: fetch() cannot report
// upload progress, XMLHttpRequest can. Errors are the same ApiError as api().
//
//   const sending = upload(`/api/...files?name=${name}`, file, (part) => bar.value = part);
//   const page = await sending.done;      // sending.abort() cancels

import { ApiError, routed } from "./api.js";

export function upload(path, file, onProgress, contentType = "application/octet-stream") {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open("POST", routed(path));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Content-Type", contentType);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null; // not JSON (a proxy's error page)
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(data);
        return;
      }
      const error = data?.error || {};
      reject(new ApiError(
        xhr.status, error.code || `http_${xhr.status}`,
        error.message || xhr.statusText || `HTTP ${xhr.status}`, error.details,
      ));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the upload failed")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "upload cancelled")));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

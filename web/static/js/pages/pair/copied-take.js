// Which take the phone's local copy (lib/local-copy.js) records, from the second camera's
// link (the server's secondary_state): the take the phone records into. While the server
// lacks the phone's media ("lost": the network dropped, the page reconnects) that take goes
// on, and so does its copy, which is what fills the hole afterwards. Stopping the copy there
// and starting another part as the media came back left a moment that no fill could close.

/** The take to copy now, given the link and the take the copy follows (null: none). */
export function copiedTake(link, copying) {
  if (!link?.take_id) return null;
  if (link.state === "recording") return link.take_id;
  return link.state === "lost" && link.take_id === copying ? copying : null;
}

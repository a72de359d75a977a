// How this page's camera and microphone are sent (issue #18): the exam's sound and
// picture, as the server's answer to our offer asks for them.
//
// The server's answer carries the Opus parameters (stereo, full band, the exam's
// average bitrate, no DTX, FEC) and the video's start and minimum bitrates; its
// acknowledgement carries ``media``, the exam's profile (docs/signaling.md, offer).
// Here the senders get what SDP cannot say: audio first when bandwidth is short
// (priority high, the video low), the bitrate ceilings, and the picture keeping its
// frame rate (a performance moves) rather than its size when the encoder must give; and
// the camera's preview for the proctors' wall (media/preview.py) its size and rate.

/**
 * The offer, saying the microphone's two channels when it has them (``sprop-stereo``:
 * what we send; the server answers ``stereo=1`` to ask for them).
 */
export function withStereoOffer(sdp, stream) {
  const audio = stream?.getAudioTracks?.()[0];
  const channels = audio?.getSettings?.().channelCount;
  if (channels !== 2) return sdp;
  const opus = /a=rtpmap:(\d+) opus\/48000\/2/i.exec(sdp);
  if (!opus) return sdp;
  const fmtp = new RegExp(`^(a=fmtp:${opus[1]} )(.*)$`, "m");
  if (fmtp.test(sdp)) {
    return sdp.replace(fmtp, (line, head, params) => (
      /(^|;)\s*sprop-stereo=/.test(params) ? line : `${head}${params};sprop-stereo=1`));
  }
  return sdp.replace(opus[0], `${opus[0]}\r\na=fmtp:${opus[1]} sprop-stereo=1`);
}

async function tune(sender, change) {
  if (!sender?.getParameters) return;
  try {
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) params.encodings = [{}];
    change(params, params.encodings[0]);
    await sender.setParameters(params);
  } catch (err) {
    // An older browser without a parameter: it sends at its defaults.
    console.warn("sender parameters not set", err);
  }
}

/**
 * How much to scale ``track``'s picture down so it fits ``box`` ({width, height}): at least
 * 1 (a camera smaller than the box is sent as it is). A camera that does not say its size
 * is taken for 640x480.
 */
export function previewScale(track, box) {
  const settings = track?.getSettings?.() || {};
  const width = settings.width || 640;
  const height = settings.height || 480;
  return Math.max(1, width / box.width, height / box.height);
}

/**
 * Apply the exam's ``media`` (the offer's acknowledgement) to the senders by kind, and
 * to ``senders.preview`` (the camera's small copy for the proctors' wall) what
 * ``media.preview`` asks: sent only when the server asks for it.
 */
export async function applySending(senders, media) {
  if (!media) return;
  await tune(senders.preview, (params, enc) => {
    const want = media.preview;
    enc.active = Boolean(want);
    if (!want) return;
    enc.scaleResolutionDownBy = previewScale(senders.preview.track, want);
    enc.maxFramerate = want.fps;
    enc.maxBitrate = want.max_kbps * 1000;
    enc.priority = "very-low";
    enc.networkPriority = "very-low";
  });

  await tune(senders.audio, (params, enc) => {
    enc.priority = "high";
    enc.networkPriority = "high";
    if (media.audio === "music") enc.maxBitrate = media.audio_kbps * 1000;
  });
  await tune(senders.video, (params, enc) => {
    enc.priority = "low";
    enc.networkPriority = "low";
    if (media.video_max_kbps) enc.maxBitrate = media.video_max_kbps * 1000;
    if (media.fps) enc.maxFramerate = media.fps;
  });
  // apart: a browser that refuses it still gets the ceilings above
  await tune(senders.video, (params) => {
    params.degradationPreference = "maintain-framerate";
  });
}

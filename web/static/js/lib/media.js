// Camera and microphone: opening them, choosing a camera, and a level meter.

// Processing off: it would alter music and test tones, and the exams record
// performances (the server keeps exactly what the microphone hears). Two channels
// where the microphone has them (a stereo pair, an audio interface), at Opus's 48 kHz.
const AUDIO = {
  echoCancellation: false, noiseSuppression: false, autoGainControl: false,
  channelCount: { ideal: 2 }, sampleRate: { ideal: 48000 },
};

function videoConstraints(deviceId, facing = "user") {
  const size = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  // A facingMode is only a preference ("ideal"): {exact: ...} fails on desktops.
  return deviceId ? { deviceId: { exact: deviceId }, ...size }
    : { facingMode: { ideal: facing }, ...size };
}

/** Why the camera could not be opened, as an i18n key. */
export function mediaErrorKey(err) {
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "err.permission";
    case "NotFoundError":
    case "OverconstrainedError":
      return "err.noDevice";
    case "NotReadableError":
    case "AbortError":
      return "err.inUse";
    default:
      return "err.media";
  }
}

export function mediaSupport() {
  if (!window.isSecureContext || !navigator.mediaDevices) return "err.insecure";
  if (!window.RTCPeerConnection || !navigator.mediaDevices.getUserMedia) return "err.unsupported";
  return null;
}

/**
 * Camera and microphone in one stream; the stream object stays, tracks may change.
 * ``facing``: the camera preferred, "user" (front) or "environment" (rear, a phone as
 * the second camera); any camera when the device has no such one.
 */
export async function openCameraAndMic(facing = "user") {
  return navigator.mediaDevices.getUserMedia({
    audio: AUDIO, video: videoConstraints(null, facing),
  });
}

export async function listCameras() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === "videoinput" && d.deviceId);
}

/**
 * Put camera ``deviceId`` into ``stream`` in place of the current one.
 * The old camera is stopped first: many phones cannot open two at once.
 * On failure the previous camera is reopened and the error rethrown.
 */
export async function switchCamera(stream, deviceId) {
  const old = stream.getVideoTracks()[0];
  const previousId = old && old.getSettings().deviceId;
  if (old) old.stop();
  let track;
  let failure = null;
  try {
    track = await openVideoTrack(deviceId);
  } catch (err) {
    failure = err;
    track = await openVideoTrack(previousId);
  }
  if (old) stream.removeTrack(old);
  stream.addTrack(track);
  if (failure) throw failure;
  return track;
}

async function openVideoTrack(deviceId) {
  const media = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(deviceId) });
  return media.getVideoTracks()[0];
}

/** Loudness of an audio track, 0..1, reported about 60 times a second. */
export class LevelMeter {
  constructor(track, onLevel) {
    this.context = new AudioContext();
    const source = this.context.createMediaStreamSource(new MediaStream([track]));
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 1024;
    source.connect(this.analyser);
    this.samples = new Float32Array(this.analyser.fftSize);
    this.level = 0;
    this.onLevel = onLevel;
    this._frame = requestAnimationFrame(() => this._tick());
  }

  /** Browsers may keep audio suspended until the person taps the page. */
  get suspended() {
    return this.context.state === "suspended";
  }

  resume() {
    return this.context.resume();
  }

  stop() {
    cancelAnimationFrame(this._frame);
    this.context.close();
  }

  _tick() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const s of this.samples) sum += s * s;
    const rms = Math.sqrt(sum / this.samples.length);
    // -60 dBFS (silence) .. 0 dBFS (full scale), rising fast and falling slowly.
    const db = 20 * Math.log10(Math.max(rms, 1e-6));
    const target = Math.min(1, Math.max(0, (db + 60) / 60));
    this.level = target > this.level ? target : this.level * 0.9 + target * 0.1;
    this.onLevel(this.level);
    this._frame = requestAnimationFrame(() => this._tick());
  }
}

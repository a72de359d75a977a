// How a page sends its camera and microphone (web/static/js/lib/sending.js, issue #18): the
// offer says two channels when the microphone has them, and the senders get the exam's
// bitrates, the sound first and a picture that keeps its frame rate. Runs in node's test
// runner; the whole path is measured in Chromium (tests/e2e/test_performance_audio.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { applySending, previewScale, withStereoOffer } from "../../web/static/js/lib/sending.js";

const OFFER = [
  "v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;useinbandfec=1", "",
].join("\r\n");

function streamWith(channelCount) {
  return { getAudioTracks: () => [{ getSettings: () => ({ channelCount }) }] };
}

test("a two-channel microphone: the offer says sprop-stereo, once", () => {
  const once = withStereoOffer(OFFER, streamWith(2));
  assert.match(once, /a=fmtp:111 minptime=10;useinbandfec=1;sprop-stereo=1\r\n/);
  assert.equal(withStereoOffer(once, streamWith(2)), once);
  const bare = OFFER.replace("a=fmtp:111 minptime=10;useinbandfec=1\r\n", "");
  assert.match(withStereoOffer(bare, streamWith(2)), /opus\/48000\/2\r\na=fmtp:111 sprop-stereo=1/);
});

test("a mono microphone or none: the offer as the browser made it", () => {
  assert.equal(withStereoOffer(OFFER, streamWith(1)), OFFER);
  assert.equal(withStereoOffer(OFFER, { getAudioTracks: () => [] }), OFFER);
  assert.equal(withStereoOffer(OFFER, null), OFFER);
});

class FakeSender {
  constructor(refuse = null) {
    this.params = { encodings: [{}] };
    this.refuse = refuse;
  }
  getParameters() {
    return structuredClone(this.params);
  }
  async setParameters(params) {
    if (this.refuse && this.refuse in params) throw new Error(`no ${this.refuse} here`);
    this.params = params;
  }
}

const MUSIC = {
  audio: "music", audio_kbps: 192, video: "720p", fps: 30, video_max_kbps: 2500,
};

test("music: the sound first at the exam's bitrate, the picture keeps its frame rate", async () => {
  const senders = { audio: new FakeSender(), video: new FakeSender() };
  await applySending(senders, MUSIC);
  assert.deepEqual(senders.audio.params.encodings[0],
    { priority: "high", networkPriority: "high", maxBitrate: 192000 });
  assert.deepEqual(senders.video.params.encodings[0],
    { priority: "low", networkPriority: "low", maxBitrate: 2500000, maxFramerate: 30 });
  assert.equal(senders.video.params.degradationPreference, "maintain-framerate");
});

test("a browser refusing degradationPreference still gets the bitrates", async () => {
  const warn = console.warn;
  console.warn = () => {};
  try {
    const senders = { audio: new FakeSender(), video: new FakeSender("degradationPreference") };
    await applySending(senders, { ...MUSIC, audio: "voice", audio_kbps: 32 });
    assert.equal(senders.video.params.encodings[0].maxBitrate, 2500000);
    assert.equal(senders.audio.params.encodings[0].priority, "high");
    assert.equal(senders.audio.params.encodings[0].maxBitrate, undefined); // voice: browser's
  } finally {
    console.warn = warn;
  }
});

test("the question page's uplink names its exam and applies the answer's media", async () => {
  const { Uplink } = await import("../../web/static/js/lib/uplink.js");
  const asked = [];
  const socket = {
    connected: true,
    on() {},
    reconnect() {},
    async call(event, data) {
      asked.push([event, data]);
      if (event === "open_session") return { session_id: "s1", ice_servers: [] };
      return { type: "answer", sdp: "v=0 answer", media: MUSIC };
    },
  };
  const made = [];
  class Peer {
    constructor() {
      this.connectionState = "new";
      this.iceGatheringState = "complete";
      this.localDescription = null;
      made.push(this);
    }
    addTransceiver() {
      return { sender: new FakeSender() };
    }
    addEventListener() {}
    removeEventListener() {}
    async createOffer() {
      return { type: "offer", sdp: OFFER };
    }
    async setLocalDescription(description) {
      this.localDescription = description;
    }
    async setRemoteDescription() {}
    close() {}
  }
  const before = globalThis.RTCPeerConnection;
  globalThis.RTCPeerConnection = Peer;
  try {
    const audio = { kind: "audio", getSettings: () => ({ channelCount: 2 }) };
    const stream = { getTracks: () => [{ kind: "video" }, audio], getAudioTracks: () => [audio] };
    const uplink = new Uplink(socket, stream, () => {}, { examId: "e1" });
    await uplink.start();
    const [, offer] = asked.find(([event]) => event === "offer");
    assert.equal(offer.exam_id, "e1");
    assert.match(offer.sdp, /sprop-stereo=1/);
    assert.deepEqual(uplink.sending, MUSIC);
    assert.equal(uplink._senders.audio.params.encodings[0].maxBitrate, 192000);
    uplink.closed = true;
  } finally {
    globalThis.RTCPeerConnection = before;
  }
});

const PREVIEW = { width: 320, height: 240, fps: 5, max_kbps: 150 };

test("the preview fits the wall's box, at its rate, and only when the server asks", async () => {
  const camera = (width, height) => ({ getSettings: () => ({ width, height }) });
  const hd = { track: camera(1280, 720), ...new FakeSender() };
  Object.setPrototypeOf(hd, FakeSender.prototype);
  await applySending({ preview: hd }, { ...MUSIC, preview: PREVIEW });
  assert.deepEqual(hd.params.encodings[0], {
    active: true, scaleResolutionDownBy: 4, maxFramerate: 5, maxBitrate: 150000,
    priority: "very-low", networkPriority: "very-low",
  });
  assert.equal(previewScale(camera(480, 640), PREVIEW), 640 / 240); // a phone held upright
  assert.equal(previewScale(camera(160, 120), PREVIEW), 1); // never scaled up
  assert.equal(previewScale({}, PREVIEW), 2); // a size not said: taken for 640x480
  await applySending({ preview: hd }, { ...MUSIC, preview: null });
  assert.equal(hd.params.encodings[0].active, false); // a server asking none: nothing sent
});

test("the uplink offers the camera's copy as its preview, sends it while the server pictures the camera, and stops it", async () => {
  const { Uplink } = await import("../../web/static/js/lib/uplink.js");
  const asked = [];
  const handlers = {};
  const socket = {
    connected: true,
    on(event, handler) {
      handlers[event] = handler;
    },
    reconnect() {},
    async call(event, data) {
      asked.push([event, data]);
      if (event === "open_session") return { session_id: "s1", ice_servers: [] };
      if (event === "offer") return { type: "answer", sdp: "v=0", media: { ...MUSIC, preview: PREVIEW } };
      return {};
    },
  };
  const added = [];
  class Peer {
    constructor() {
      this.connectionState = "new";
      this.iceGatheringState = "complete";
      this.localDescription = null;
    }
    addTransceiver(track, init) {
      const transceiver = { sender: new FakeSender(), mid: null, init };
      transceiver.sender.track = track;
      if (init.sendEncodings) transceiver.sender.params.encodings = init.sendEncodings;
      added.push(transceiver);
      return transceiver;
    }
    addEventListener() {}
    removeEventListener() {}
    async createOffer() {
      return { type: "offer", sdp: OFFER };
    }
    async setLocalDescription(description) {
      added.forEach((t, i) => { t.mid = String(i); });
      this.localDescription = description;
    }
    async setRemoteDescription() {}
    close() {}
  }
  const copies = [];
  const video = {
    kind: "video",
    getSettings: () => ({ width: 640, height: 480 }),
    clone() {
      const copy = { kind: "video", stopped: false, getSettings: video.getSettings };
      copy.stop = () => { copy.stopped = true; };
      copies.push(copy);
      return copy;
    },
  };
  const audio = { kind: "audio", getSettings: () => ({ channelCount: 1 }) };
  const stream = {
    getTracks: () => [video, audio], getAudioTracks: () => [audio], getVideoTracks: () => [video],
  };
  const before = globalThis.RTCPeerConnection;
  globalThis.RTCPeerConnection = Peer;
  try {
    const uplink = new Uplink(socket, stream, () => {});
    await uplink.start();
    const [, offer] = asked.find(([event]) => event === "offer");
    assert.equal(added.length, 3); // the camera, the microphone, the preview last
    assert.equal(added[2].sender.track, copies[0]);
    assert.deepEqual(added[2].init.sendEncodings, [{ active: false }]); // offered inactive,
    assert.equal(added[2].sender.params.encodings[0].active, false); // nobody watches yet
    const beat = async (preview) => {
      const sessions = [{ session_id: "s1", media: "flowing", preview }];
      handlers.heartbeat({ result: { now: 1, sessions }, sentAt: 0, receivedAt: 1 });
      await uplink._queue;
    };
    await beat(true); // a wall watches: started as the answer asked
    assert.deepEqual(added[2].sender.params.encodings, [{
      active: true, scaleResolutionDownBy: 2, maxFramerate: 5, maxBitrate: 150000,
      priority: "very-low", networkPriority: "very-low",
    }]);
    await beat(false); // nobody watches any more
    assert.equal(added[2].sender.params.encodings[0].active, false);
    await beat(undefined); // an older server says nothing: none sent
    assert.equal(added[2].sender.params.encodings[0].active, false);
    assert.equal(offer.preview, "2");
    await uplink.close();
    assert.equal(copies[0].stopped, true); // the camera's light goes off with the page's
  } finally {
    globalThis.RTCPeerConnection = before;
  }
});

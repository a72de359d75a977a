// Every string the pages show, one catalogue per language. Chinese is the
// default; the choice is remembered in localStorage.
//
// In HTML: <span data-i18n="key"></span> (text), data-i18n-label="key" (aria-label).
// In JS: t("key", {name: value}) fills {name} placeholders.

export const CATALOGUES = {
  zh: {
    "page.title": "调试设备",
    "lang.switch": "English",
    "lang.label": "Switch to English",
    "title": "调试设备",
    "intro": "考试前请检查摄像头和麦克风：录一段测试视频，回放确认画面和声音都正常。",
    "steps.label": "调试步骤",
    "step.preview": "检查画面",
    "step.record": "录制",
    "step.playback": "回放",
    "step.finish": "完毕",
    "camera.label": "摄像头",
    "camera.switch": "切换摄像头",
    "camera.unnamed": "摄像头 {n}",
    "mic.label": "麦克风",
    "mic.hint": "说话或播放音乐时，绿色音量条应随声音跳动。",
    "mic.tap": "点击页面任意位置以显示麦克风音量。",
    "conn.connecting": "正在连接服务器…",
    "conn.connected": "已连接服务器",
    "conn.reconnecting": "连接中断，正在重新连接…",
    "conn.failed": "无法连接服务器，正在重试…",
    "rec.badge": "录制中",
    "btn.start": "开始录制",
    "btn.stop": "停止录制",
    "btn.playBack": "回放",
    "btn.recordAgain": "重新录制",
    "btn.finish": "调试完毕",
    "btn.retry": "重试",
    "btn.checkAgain": "重新调试",
    "take.info": "录像时长 {seconds} 秒 · 画面 {width}×{height}",
    "take.noAudio": "这段录像没有声音。请检查麦克风是否静音或被其他程序占用，然后点击“重新录制”。",
    "take.noVideo": "这段录像没有画面。请检查摄像头，然后点击“重新录制”。",
    "msg.askPermission": "请在浏览器弹出的提示中点击“允许”，使用摄像头和麦克风。",
    "msg.waitServer": "正在连接服务器，连接成功后即可开始录制。",
    "msg.ready": "能看到自己的画面、音量条在跳动后，点击“开始录制”，录 5 到 10 秒：说几句话或播放一段音乐。",
    "msg.recording": "正在录制。说几句话或播放一段音乐，然后点击“停止录制”。录制中请不要离开本页面。",
    "msg.saving": "正在保存录像，请稍候…",
    "msg.review": "录像已保存。点击“回放”，确认能看到画面、听到声音。",
    "msg.reviewed": "画面和声音都正常，请点击“调试完毕”；如有问题，请检查设备后点击“重新录制”。",
    "msg.done": "设备调试完毕。考试时请使用同一台设备和同一个浏览器。",
    "msg.doneBefore": "你已完成过设备调试；如果更换了设备，请再调试一次。",
    "stop.time_limit": "已达到最长录制时间（{limit}），录制已自动停止并保存。",
    "stop.connection_lost": "与服务器的连接中断，录制已停止并保存。",
    "stop.server_restart": "服务器重新启动，录制已停止。",
    "stop.other": "录制已被服务器停止（{reason}）。",
    "err.permission": "没有摄像头或麦克风的使用权限。请点击地址栏中的摄像头或锁形图标，允许使用摄像头和麦克风，然后点击“重试”。",
    "err.noDevice": "没有找到摄像头或麦克风。请连接设备后点击“重试”。",
    "err.inUse": "摄像头或麦克风正被其他程序使用。请关闭其他使用摄像头的应用（如视频会议），然后点击“重试”。",
    "err.insecure": "必须通过 https:// 地址打开本页面才能使用摄像头。请使用考试平台提供的 https:// 地址。",
    "err.unsupported": "此浏览器不支持视频录制。请使用最新版的 Chrome、Edge、Firefox 或 Safari。",
    "err.media": "无法打开摄像头或麦克风（{detail}）。请检查设备后点击“重试”。",
    "err.switchCamera": "无法切换到这个摄像头，已恢复原来的摄像头。",
    "err.trackEnded": "摄像头或麦克风已断开。请重新连接设备后点击“重试”。",
    "err.connection": "无法与服务器建立音视频连接。请检查网络（可尝试关闭 VPN 或代理），页面会自动重试。",
    "err.server": "服务器拒绝了请求：{message}",
    "err.timeout": "服务器没有响应。请检查网络后再试一次。",
    "err.offline": "与服务器的连接已断开，正在重新连接；连接后请再试一次。",
    "err.refused": "服务器拒绝了连接。请刷新页面后再试。",
    "err.takeFailed": "这次没有录到画面或声音。请检查摄像头和网络后点击“重新录制”。",
    "err.playback": "无法播放这段录像。请点击“重新录制”；如仍失败，请换用最新版 Chrome 或 Safari。",
    "err.stopFailed": "停止录制的请求没有送达服务器，录制仍在进行。请再点击一次“停止录制”。",
  },
  en: {
    "page.title": "Device check",
    "lang.switch": "中文",
    "lang.label": "切换为中文",
    "title": "Device check",
    "intro": "Before your exam, check your camera and microphone: record a short test video and play it back to make sure picture and sound work.",
    "steps.label": "Steps",
    "step.preview": "Preview",
    "step.record": "Record",
    "step.playback": "Play back",
    "step.finish": "Finish",
    "camera.label": "Camera",
    "camera.switch": "Switch camera",
    "camera.unnamed": "Camera {n}",
    "mic.label": "Microphone",
    "mic.hint": "The green bar should move when you speak or play music.",
    "mic.tap": "Tap anywhere on the page to show the microphone level.",
    "conn.connecting": "Connecting to the server…",
    "conn.connected": "Connected to the server",
    "conn.reconnecting": "Connection lost, reconnecting…",
    "conn.failed": "Cannot reach the server, retrying…",
    "rec.badge": "Recording",
    "btn.start": "Start recording",
    "btn.stop": "Stop recording",
    "btn.playBack": "Play back",
    "btn.recordAgain": "Record again",
    "btn.finish": "Finish",
    "btn.retry": "Try again",
    "btn.checkAgain": "Check again",
    "take.info": "Recorded {seconds} s · picture {width}×{height}",
    "take.noAudio": "This recording has no sound. Check that your microphone is not muted or used by another app, then press “Record again”.",
    "take.noVideo": "This recording has no picture. Check your camera, then press “Record again”.",
    "msg.askPermission": "When your browser asks, press “Allow” to use the camera and microphone.",
    "msg.waitServer": "Connecting to the server; you can start recording once connected.",
    "msg.ready": "When you can see yourself and the bar moves, press “Start recording” and record 5 to 10 seconds: say a few words or play some music.",
    "msg.recording": "Recording. Say a few words or play some music, then press “Stop recording”. Do not leave this page while recording.",
    "msg.saving": "Saving your recording, please wait…",
    "msg.review": "Saved. Press “Play back” and check that you can see the picture and hear the sound.",
    "msg.reviewed": "If picture and sound are fine, press “Finish”. If not, check your devices and press “Record again”.",
    "msg.done": "Device check complete. Use this same device and browser for your exam.",
    "msg.doneBefore": "You have completed the device check before; if you changed devices, please check again.",
    "stop.time_limit": "The recording reached its time limit ({limit}); it was stopped and saved automatically.",
    "stop.connection_lost": "The connection to the server was lost; the recording was stopped and saved.",
    "stop.server_restart": "The server restarted; the recording was stopped.",
    "stop.other": "The server stopped the recording ({reason}).",
    "err.permission": "The page may not use your camera or microphone. Click the camera or lock icon in the address bar, allow camera and microphone, then press “Try again”.",
    "err.noDevice": "No camera or microphone was found. Connect one, then press “Try again”.",
    "err.inUse": "The camera or microphone is in use by another app. Close other apps that use the camera (such as video calls), then press “Try again”.",
    "err.insecure": "This page must be opened at an https:// address to use the camera. Use the https:// address your exam platform gave you.",
    "err.unsupported": "This browser cannot record video. Please use a recent Chrome, Edge, Firefox or Safari.",
    "err.media": "The camera or microphone could not be opened ({detail}). Check your devices, then press “Try again”.",
    "err.switchCamera": "Could not switch to that camera; the previous camera is back.",
    "err.trackEnded": "The camera or microphone was disconnected. Reconnect it, then press “Try again”.",
    "err.connection": "No audio/video connection to the server could be made. Check your network (try turning off a VPN or proxy); the page keeps retrying.",
    "err.server": "The server refused: {message}",
    "err.timeout": "The server did not answer. Check your network and try again.",
    "err.offline": "The connection to the server was lost and is being restored; try again once connected.",
    "err.refused": "The server refused the connection. Reload the page and try again.",
    "err.takeFailed": "Nothing was recorded this time. Check your camera and network, then press “Record again”.",
    "err.playback": "This recording cannot be played. Press “Record again”; if it still fails, use a recent Chrome or Safari.",
    "err.stopFailed": "The stop request did not reach the server and recording continues. Press “Stop recording” again.",
  },
};

const STORAGE_KEY = "examcast.lang";
const HTML_LANG = { zh: "zh-CN", en: "en" };
const listeners = new Set();

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage blocked (private mode on some browsers)
  }
}

let current = CATALOGUES[stored()] ? stored() : "zh";

export function lang() {
  return current;
}

export function t(key, params = {}) {
  const text = CATALOGUES[current][key] ?? CATALOGUES.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export function setLang(code) {
  if (!CATALOGUES[code]) return;
  current = code;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // not remembered; the page still switches
  }
  translatePage();
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** Fill every data-i18n / data-i18n-label element under ``root`` in the current language. */
export function translatePage(root = document) {
  document.documentElement.lang = HTML_LANG[current];
  document.title = t("page.title");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

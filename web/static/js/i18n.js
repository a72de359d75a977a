// Every string the pages show, one catalogue per language. Chinese is the
// default; the choice is remembered in localStorage.
//
// In HTML: <span data-i18n="key"></span> (text), data-i18n-label="key" (aria-label),
// <html data-title="key"> (the window title; "page.title" when absent).
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
    "btn.logOut": "退出登录",
    "account.who": "已登录：{name}",
    "msg.finishing": "正在保存调试结果…",
    "finish.recorded": "调试结果已保存到报名系统。",
    "finish.stepRequired": "设备正常，调试已完成。报名系统暂未记录本次调试，因为报名流程中还有前面的步骤没有完成：请先{step}。",
    "finish.failed": "调试结果没有保存：{message}。请再点击“调试完毕”；如仍失败，请点击“重新录制”。",
    "finish.offline": "无法连接服务器，调试结果没有保存。请检查网络后再点击“调试完毕”。",
    "journey.accept_agreements": "同意用户协议和隐私政策",
    "journey.verify_identity": "完成实人认证",
    "journey.read_notice": "阅读系统须知",
    "journey.choose_unit": "选择报考单位",
    "journey.confirm_details": "确认个人信息",
    "journey.accept_commitment": "同意考试承诺书",
    "journey.device_check": "完成设备调试",
    "journey.exams": "选择考试",
    "login.title": "登录",
    "login.intro": "请用注册时的手机号和密码登录。登录后进行设备调试。",
    "login.signedIn": "你已登录：{name}（{phone}）。",
    "login.ended": "登录已失效（可能已在其他页面退出登录），请重新登录。",
    "login.noAccount": "还没有账号？",
    "login.toRegister": "注册新账号",
    "login.wrong": "手机号或密码不正确。请检查后重试；还没有账号请先注册。",
    "login.wait": "登录失败次数过多，请 {seconds} 秒后再试。",
    "register.title": "注册账号",
    "register.intro": "请使用本人手机号注册。姓名、证件类型和证件号码须与报考信息完全一致。",
    "register.haveAccount": "已有账号？",
    "register.toLogin": "直接登录",
    "register.phoneTaken": "这个手机号已经注册过，请直接登录。",
    "register.idTaken": "这个证件号码已经注册过账号。请用原账号登录；如果不是你本人注册的，请联系报考单位。",
    "field.phone": "手机号",
    "field.password": "密码",
    "field.smsCode": "短信验证码",
    "field.name": "姓名",
    "field.idType": "证件类型",
    "field.idNumber": "证件号码",
    "field.newPassword": "设置密码",
    "hint.name": "与证件上的姓名一致",
    "hint.password": "至少 8 位，不能全是数字，不要包含手机号或证件号码。",
    "btn.login": "登录",
    "btn.register": "注册并登录",
    "btn.sendCode": "获取验证码",
    "btn.resendCode": "重新获取",
    "btn.codeCooldown": "{seconds} 秒后重新获取",
    "btn.continue": "继续",
    "sms.sent": "验证码已发送到 {phone}，{minutes} 分钟内有效。",
    "sms.wait": "获取验证码太频繁，请 {seconds} 秒后再试。",
    "sms.wrong": "短信验证码不正确，还可以再试 {n} 次。",
    "sms.expired": "短信验证码已失效，请点击“重新获取”。",
    "form.fix": "请按提示修改标红的项目。",
    "form.required": "请填写此项。",
    "form.wait": "操作太频繁，请 {seconds} 秒后再试。",
    "invalid.phone": "请输入 11 位中国大陆手机号，例如 13800138000。",
    "invalid.sms_code": "请输入短信中的 6 位数字验证码。",
    "invalid.name": "请填写与证件一致的姓名。",
    "invalid.id_type": "请选择证件类型。",
    "invalid.id_number": "证件号码不正确，请与证件逐位核对（居民身份证为 18 位，最后一位可能是 X）。",
    "invalid.password": "密码至少 8 位，不能全是数字，也不要包含手机号或证件号码。",
    "err.network": "无法连接服务器，请检查网络后重试。",
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
    "btn.logOut": "Log out",
    "account.who": "Logged in as {name}",
    "msg.finishing": "Saving the result of the check…",
    "finish.recorded": "The device check is recorded in your admission steps.",
    "finish.stepRequired": "Your devices work and the check is complete. The admission system has not recorded it yet because an earlier step is not done: first {step}.",
    "finish.failed": "The result was not saved: {message}. Press “Finish” again; if it still fails, press “Record again”.",
    "finish.offline": "Cannot reach the server: the result was not saved. Check your network, then press “Finish” again.",
    "journey.accept_agreements": "accept the user agreement and the privacy policy",
    "journey.verify_identity": "complete real-person verification",
    "journey.read_notice": "read the system notice",
    "journey.choose_unit": "choose your admission unit",
    "journey.confirm_details": "confirm your personal details",
    "journey.accept_commitment": "accept the commitment letter",
    "journey.device_check": "complete the device check",
    "journey.exams": "choose an exam",
    "login.title": "Log in",
    "login.intro": "Log in with the phone number and password you registered with. The device check comes next.",
    "login.signedIn": "You are logged in as {name} ({phone}).",
    "login.ended": "You were logged out (perhaps on another page or after a long pause). Please log in again.",
    "login.noAccount": "No account yet?",
    "login.toRegister": "Create one",
    "login.wrong": "The phone number or the password is wrong. Check them and try again; if you have no account yet, create one.",
    "login.wait": "Too many failed log-ins. Try again in {seconds} seconds.",
    "register.title": "Create an account",
    "register.intro": "Use your own mobile phone. Your name, ID type and ID number must match your application exactly.",
    "register.haveAccount": "Already registered?",
    "register.toLogin": "Log in",
    "register.phoneTaken": "This phone number already has an account: log in instead.",
    "register.idTaken": "An account with this ID number exists already. Log in with it; if you did not create it, contact your admission unit.",
    "field.phone": "Mobile phone number",
    "field.password": "Password",
    "field.smsCode": "SMS code",
    "field.name": "Full name",
    "field.idType": "ID type",
    "field.idNumber": "ID number",
    "field.newPassword": "Choose a password",
    "hint.name": "As printed on your ID document",
    "hint.password": "At least 8 characters, not only digits, and not your phone or ID number.",
    "btn.login": "Log in",
    "btn.register": "Create account and log in",
    "btn.sendCode": "Send code",
    "btn.resendCode": "Send again",
    "btn.codeCooldown": "Send again in {seconds} s",
    "btn.continue": "Continue",
    "sms.sent": "A code was sent to {phone}; it is valid for {minutes} minutes.",
    "sms.wait": "Codes were requested too often. Try again in {seconds} seconds.",
    "sms.wrong": "The SMS code is wrong; {n} more tries.",
    "sms.expired": "The SMS code has expired. Press “Send again”.",
    "form.fix": "Please correct the fields marked in red.",
    "form.required": "Please fill this in.",
    "form.wait": "Too many tries. Try again in {seconds} seconds.",
    "invalid.phone": "Enter a mainland China mobile number: 11 digits, e.g. 13800138000.",
    "invalid.sms_code": "Enter the 6-digit code from the SMS.",
    "invalid.name": "Enter your name exactly as on your ID document.",
    "invalid.id_type": "Choose the type of your ID document.",
    "invalid.id_number": "Check the ID number against your document, character by character.",
    "invalid.password": "At least 8 characters, not only digits, and not your phone or ID number.",
    "err.network": "Cannot reach the server. Check your network and try again.",
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

/** True when the catalogues have ``key`` (for keys made from server codes). */
export function has(key) {
  return key in CATALOGUES.zh;
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
  document.title = t(document.documentElement.dataset.title || "page.title");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

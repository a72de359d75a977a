"""The versioned texts a candidate reads and accepts: user agreement, privacy policy,
system notice (系统须知) and commitment letter (承诺书), in Chinese and English.

Changing a text means a new ``version``: candidates are then asked to accept
(or read) it again, and what they accepted stays recorded with its version.
The operator's lawyers own the final wording; these defaults describe what this
server really does with the candidate's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    AGREEMENT = "user_agreement"
    PRIVACY = "privacy_policy"
    NOTICE = "system_notice"
    COMMITMENT = "commitment_letter"


@dataclass(frozen=True)
class Document:
    kind: Kind
    version: str
    title: dict[str, str]
    body: dict[str, str]

    def describe(self, lang: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "version": self.version}
        if lang in self.body:
            assert lang is not None
            out.update(lang=lang, title=self.title[lang], body=self.body[lang])
        else:
            out.update(title=self.title, body=self.body)
        return out


LANGUAGES = ("zh", "en")

DEFAULTS: dict[Kind, Document] = {
    d.kind: d
    for d in (
        Document(
            Kind.AGREEMENT,
            "2025-1",
            {"zh": "用户协议", "en": "User agreement"},
            {
                "zh": (
                    "1. 本系统用于高校艺术类专业视频考试。您注册的手机号、姓名、证件类型和证件号码"
                    "须真实、准确，并与报考单位上传的准考名单一致。\n"
                    "2. 账号仅限本人使用，请妥善保管密码，不得转借他人。\n"
                    "3. 考试过程中系统将录制您的摄像头画面和声音，"
                    "录制内容提交给您报考的单位评审。\n"
                    "4. 请遵守考试纪律；报考单位可依据考试规则处理违规行为。"
                ),
                "en": (
                    "1. This system runs video exams for university admission in the arts. The "
                    "phone number, name, ID type and ID number you register must be true and "
                    "match the admitted list your admission unit uploads.\n"
                    "2. The account is for you alone: keep your password safe and lend it to "
                    "no one.\n"
                    "3. During exams the system records your camera and microphone; the "
                    "recordings go to the units you apply to, for marking.\n"
                    "4. Follow the exam rules; the units may act on breaches under their rules."
                ),
            },
        ),
        Document(
            Kind.PRIVACY,
            "2025-1",
            {"zh": "隐私政策", "en": "Privacy policy"},
            {
                "zh": (
                    "我们收集：手机号、姓名、证件类型和号码（注册与准考资格核对）；实人验证结果及"
                    "人工审核时您上传的手持证件照片；考试录像和您上传的文件；登录记录（时间、网络"
                    "地址）。用途：身份核验、资格审核、考试评审与安全审计。您的资料仅提供给您选择"
                    "的报考单位及审核人员，存储于本系统运营方的服务器。密码仅以不可逆的方式保存。"
                ),
                "en": (
                    "We collect your phone number, name, ID type and number (registration and the "
                    "admitted-list check); the result of real-person verification and, for manual "
                    "review, the photo of you holding your ID that you upload; your exam "
                    "recordings and files; log-in records (time, network address). They are used "
                    "to verify who you are, check your admission, mark your exam and audit "
                    "security, are shown only to the units you choose and to review staff, and "
                    "are stored on the operator's servers. Passwords are kept only as one-way "
                    "hashes."
                ),
            },
        ),
        Document(
            Kind.NOTICE,
            "2026-1",  # 2026-1: proctors may watch live (issue #12)
            {"zh": "系统须知", "en": "System notice"},
            {
                "zh": (
                    "流程：选择报考单位 → 资格确认 → 阅读承诺书 → 调试设备 → 选择考试 → 实人验证 → "
                    "进入考试 → 提交作品。请使用 Android 6 或 iOS 11 及以上的设备和最新版浏览器，"
                    "允许使用摄像头和麦克风。录制过程中请勿离开页面、遮挡摄像头或插入耳机。"
                    "作品中断上传可在考试结束后 2 小时内续传。"
                    "考试期间，监考老师（考试指派的监考员及报考单位管理员）可实时查看您的摄像头"
                    "画面、听到声音；每次查看都会记录在案。"
                ),
                "en": (
                    "Steps: choose your admission unit → confirm your details → read the "
                    "commitment letter → check your devices → choose an exam → real-person "
                    "verification → take the exam → submit. Use Android 6 / iOS 11 or later and a "
                    "current browser; allow the camera and microphone. While recording, do not "
                    "leave the page, cover the camera or plug in earphones. Interrupted uploads "
                    "can be resumed up to 2 hours after the exam ends. During the exam, "
                    "proctors (those assigned to the exam and the unit's admin) may watch your "
                    "cameras and hear you live; every such view is recorded."
                ),
            },
        ),
        Document(
            Kind.COMMITMENT,
            "2025-1",
            {"zh": "考试承诺书", "en": "Commitment letter"},
            {
                "zh": (
                    "本人承诺：本人信息真实准确；由本人独立完成考试，不请他人代考、不接受他人协助；"
                    "不录制、传播考试题目；遵守考试纪律和报考单位的考试规则。如有违反，"
                    "本人愿承担相应后果。"
                ),
                "en": (
                    "I confirm that my details are true; that I take the exam myself, with no "
                    "stand-in and no help; that I will not record or share the questions; and "
                    "that I follow the exam rules of the unit. I accept the consequences of any "
                    "breach."
                ),
            },
        ),
    )
}


class Documents:
    """The current version of each text (defaults unless the operator supplies others)."""

    def __init__(self, documents: dict[Kind, Document] | None = None) -> None:
        self._docs = dict(DEFAULTS if documents is None else documents)

    def current(self, kind: Kind) -> Document:
        return self._docs[kind]

    def version(self, kind: Kind) -> str:
        return self._docs[kind].version

"""Passwords common among Chinese users that the zxcvbn list (English-speaking breaches)
lacks: pinyin names and words with digit tails, "I love you" numbers (520, 1314), and
the letter-and-digit habits seen in the published CSDN / Tianya leak top lists.

Only entries of 8 characters or more matter (shorter ones fail the length floor);
digit-only entries are refused by their own rule. Compared without regard to case.
"""

from __future__ import annotations

_SURNAMES = (
    "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin luo gao "
    "zheng liang xie song tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang"
).split()
_WORDS = (
    "woaini iloveyou woaiwojia woaimama woaibaba wodemima mima password admin qwerty "
    "asdasd qweqwe zxczxc abcabc aaa qq wang love baobao beibei tiantian xiaoxiao "
    "shanghai beijing china zhongguo nihao huanhuan lingling"
).split()
_TAILS = ("123", "1234", "12345", "123456", "520", "521", "1314", "5201314", "888", "666", "000")

_LISTED = (
    "woaini1314 woaini520 woaini521 woaini5201314 5201314a 5201314abc a5201314 "
    "5201314woaini 1314woaini 1314520a 520520520a iloveyou1314 aini1314 "
    "qq123456789 qq5201314 a123456a aa123456789 abc123abc 123456qwe qwe123qwe "
    "asd123asd 1qaz2wsx3edc 1q2w3e4r5t p@ssw0rd p@ssword passw0rd! admin@123 "
    "admin888 admin123456 root1234 test1234 abcd123456 abcdefg123 a1b2c3d4 "
    "dearbook xiazhili zhangwei123 wangwei123 liuyang123 zhongguo123 zhongguoren "
    "shanghai123 beijing2008 beijing123 tiananmen nicaiya wodemima123 buzhidao "
    "mimamima haoxiang meiyoumima qazwsx123 1234abcd 12345abc 123456abc "
    "123456a. a123456. aa112233 aa123123 a1a2a3a4 q1q2q3q4"
).split()


def _generated() -> list[str]:
    out = []
    for stem in (*_SURNAMES, *_WORDS):
        for tail in _TAILS:
            out.append(stem + tail)
            out.append(tail + stem)
    return out


CHINESE_COMMON: tuple[str, ...] = (*_LISTED, *_generated())

// Each role's own home, and where a log-in goes: a candidate to the page that sent them
// to the login page (else the admission journey), staff to their own pages — never to
// the candidate's journey, nor to a page of another role that would refuse them.

export const HOMES = {
  candidate: "/journey",
  unit_admin: "/console",
  staff_reviewer: "/console/reviews",
  proctor: "/console/proctor",
  operator: "/console#units",
};

// Pages for every role: the account's own password and two-step log-in (账号与安全).
const EVERY_ROLE = ["/account"];

/** Where ``account`` goes after logging in, given the page it asked for (``next``). */
export function landing(account, next) {
  const role = account?.role || "candidate";
  if (role === "candidate" || !HOMES[role]) return next;
  const home = HOMES[role];
  const path = (value) => value.split(/[?#]/)[0];
  if (EVERY_ROLE.includes(path(next))) return next;
  return path(next) === path(home) ? next : home;
}

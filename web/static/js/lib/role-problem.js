// Someone logged in with an account that may not use this page (a candidate on the
// console, an admin on the review queue): say so, and offer the way that fits.

import { logOut } from "./api.js";
import { t } from "./i18n.js";
import { loginHere } from "./staff-page.js";
import { h } from "./dom.js";

// Where each role's own pages are.
const HOME = {
  unit_admin: { href: "/console", key: "console.role.goConsole" },
  staff_reviewer: { href: "/console/reviews", key: "console.role.goReviews" },
  candidate: { href: "/journey", key: "console.role.goJourney" },
  proctor: { href: "/console/proctor", key: "console.role.goProctor" },
  operator: { href: "/console#units", key: "console.role.goUnits" },
};

/** null when ``me`` has the role ``wanted``; else a panel explaining what to do. */
export function roleProblem(me, wanted) {
  if (me.role === wanted) return null;
  const home = HOME[me.role];
  const switchAccount = async () => {
    try {
      await logOut();
    } catch (err) {
      console.warn(err);
    }
    location.replace(loginHere());
  };
  return h("section", { class: "panel role-problem", testid: "wrong-role" },
    h("h2", { i18n: "console.role.title" }),
    h("p", { class: "notice", dataset: { kind: "warning" }, role: "alert",
      testid: "wrong-role-text" },
      h("span", { class: "line" }, t(`console.role.need.${wanted}`)),
      h("span", { class: "line" },
        t("console.role.yours", { name: me.name, role: t(`console.role.name.${me.role}`) }))),
    h("p", { i18n: "console.role.what" }),
    h("div", { class: "actions" },
      home ? h("a", { class: "button primary", href: home.href, i18n: home.key,
        testid: "wrong-role-home" }) : null,
      h("button", { type: "button", class: "secondary", i18n: "console.role.switch",
        testid: "wrong-role-switch", onclick: switchAccount })));
}

/** Sign-up, log-in (with the second-factor step), password reset, and the pages every mailed
 * link lands on: address verification, a new address's confirmation, a team invitation. */

import {
  AcceptTeamInvitationDocument,
  ConfirmEmailChangeDocument,
  RequestPasswordResetDocument,
  ResetPasswordDocument,
  unwrap,
} from "@aforo/storefront";

import type { Page } from "../app";
import { BASE } from "../app";
import { field, form, h, value } from "../dom";

export const signUp: Page = {
  title: "Sign up",
  render(app, main) {
    main.append(
      h("h1", {}, "Create your developer account"),
      form(
        "Sign up",
        [
          field("Name", "name", { autocomplete: "name", required: true }),
          field("Email", "email", { type: "email", autocomplete: "email", required: true }),
          field("Password", "password", { type: "password", autocomplete: "new-password", required: true, minlength: 10 }),
        ],
        "Sign up",
        async (f) => {
          const r = await app.sf.signUp({ name: value(f, "name"), email: value(f, "email"), password: value(f, "password") });
          main.replaceChildren(
            h("h1", {}, "Check your email"),
            h("p", {}, `We sent a link to ${r.email}. Open it to verify your address and sign in.`),
          );
          main.querySelector("h1")?.focus();
        },
      ),
      h("p", {}, "Already have an account? ", h("a", { href: `${BASE}log-in` }, "Log in")),
    );
  },
};

export const verifyEmail: Page = {
  title: "Verify your email",
  async render(app, main, _params, query) {
    main.append(h("h1", {}, "Verifying your email…"));
    const token = query.get("token") ?? "";
    const r = await app.sf.verifyEmail(token);
    main.replaceChildren(
      h("h1", {}, "Email verified"),
      h("p", {}, r.signedIn ? `Welcome, ${r.user.name}.` : "Log in to continue."),
      h("p", {}, h("a", { href: r.signedIn ? `${BASE}products` : `${BASE}log-in` }, r.signedIn ? "Choose a plan" : "Log in")),
    );
  },
};

export const logIn: Page = {
  title: "Log in",
  render(app, main, _params, query) {
    const next = query.get("next") ?? "products";
    const done = (): void => app.go(next.replace(/^\/+/, ""));
    const second = (challenge: string) =>
      form(
        "Second factor",
        [field("Code from your authenticator app (or a recovery code)", "code", { autocomplete: "one-time-code", inputmode: "numeric", required: true })],
        "Verify",
        async (f) => {
          await app.sf.logInSecondFactor(challenge, value(f, "code"));
          done();
        },
      );
    main.append(
      h("h1", {}, "Log in"),
      form(
        "Log in",
        [
          field("Email", "email", { type: "email", autocomplete: "email", required: true }),
          field("Password", "password", { type: "password", autocomplete: "current-password", required: true }),
        ],
        "Log in",
        async (f) => {
          const r = await app.sf.logIn(value(f, "email"), value(f, "password"));
          if (r.status === "signedIn") return done();
          const step = second(r.challenge);
          f.replaceWith(step);
          (step.querySelector("input") as HTMLInputElement).focus();
        },
      ),
      h("p", {}, h("a", { href: `${BASE}forgot-password` }, "Forgot your password?"), " · ", h("a", { href: `${BASE}sign-up` }, "Create an account")),
    );
  },
};

export const forgotPassword: Page = {
  title: "Reset your password",
  render(app, main) {
    main.append(
      h("h1", {}, "Reset your password"),
      form("Request a reset link", [field("Email", "email", { type: "email", autocomplete: "email", required: true })], "Send the link", async (f) => {
        unwrap((await app.sf.request(RequestPasswordResetDocument, { email: value(f, "email") })).requestPasswordReset);
        app.say("If the address has an account, a reset link is on its way.");
      }),
    );
  },
};

export const resetPassword: Page = {
  title: "Choose a new password",
  render(app, main, _params, query) {
    main.append(
      h("h1", {}, "Choose a new password"),
      form("New password", [field("New password", "newPassword", { type: "password", autocomplete: "new-password", required: true })], "Save", async (f) => {
        const token = query.get("token") ?? "";
        unwrap((await app.sf.request(ResetPasswordDocument, { token, newPassword: value(f, "newPassword") })).resetPassword);
        app.say("Password changed: log in with it.");
        app.go("log-in");
      }),
    );
  },
};

export const confirmEmail: Page = {
  title: "Confirm your new email",
  async render(app, main, _params, query) {
    main.append(h("h1", {}, "Confirming your new email…"));
    const token = query.get("token") ?? "";
    const user = unwrap((await app.sf.request(ConfirmEmailChangeDocument, { token })).confirmEmailChange);
    main.replaceChildren(
      h("h1", {}, "Email changed"),
      h("p", {}, `Your account's address is now ${user.email}. Log in with it from now on.`),
      h("p", {}, h("a", { href: app.user ? `${BASE}products` : `${BASE}log-in` }, app.user ? "Continue" : "Log in")),
    );
  },
};

/** Signed in first (as the invited address): the log-in page brings the visitor back here. */
export const acceptInvitation: Page = {
  title: "Join a team",
  signedIn: true,
  async render(app, main, _params, query) {
    main.append(h("h1", {}, "Joining the team…"));
    const token = query.get("token") ?? "";
    const team = unwrap((await app.sf.request(AcceptTeamInvitationDocument, { token })).acceptTeamInvitation);
    main.replaceChildren(
      h("h1", {}, `You joined ${team.name}`),
      h("p", {}, `Your role in it: ${team.myRole.toLowerCase()}.`),
      h("p", {}, h("a", { href: `${BASE}keys` }, "Keys")),
    );
  },
};

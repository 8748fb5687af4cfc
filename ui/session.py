"""Who this browser session is: the deployment mode, the workspace and the teacher.

In ``classroom`` mode each browser keeps an unguessable workspace id in its own storage
(``localStorage``, mirrored in a cookie that the server reads when a page connects; the tiny
``vae_workspace`` component below keeps them in step and, on a first visit, reloads the page
once so the cookie is there). It survives a reload and a browser restart on that machine and
never appears in a link. Until the server knows it, :func:`actor` is None and pages that act on
one's own work wait. A teacher enters
``$VAE_TEACHER_TOKEN`` in the sidebar. In ``local`` mode there is one user
(:data:`services.workspace.LOCAL`); ``public`` mode has no workspaces and trains nothing.
"""
from __future__ import annotations

import streamlit as st

from services import workspace
from services.workspace import Actor
from vae import settings

WORKSPACE_KEY = "_workspace"  # the validated id, once the browser has sent it
TEACHER_KEY = "_teacher"
COMPONENT_KEY = "vae_workspace"
TOKEN_KEY = "teacher_token_input"
MAX_TOKEN_TRIES = 5  # per session

COOKIE = "vae_workspace"
_JS = """
export default function (component) {
  const {data, setStateValue} = component;
  const KEY = "vae-latent-lab-workspace", RELOADED = "vae-latent-lab-workspace-reloaded";
  const OK = /^[A-Za-z0-9_-]{22,64}$/;
  let id = null;
  try { id = window.localStorage.getItem(KEY); } catch (e) { id = null; }
  if (!id || !OK.test(id)) {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    id = btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    try { window.localStorage.setItem(KEY, id); } catch (e) { /* private mode: this tab only */ }
  }
  // The server reads the cookie when a page opens its connection, so it knows the workspace
  // from the first run on: no rerun from here (a rerun sent too early can lose the page).
  document.cookie = `${COOKIE}=${id}; Max-Age=31536000; Path=/; SameSite=Strict`;
  let reloaded = false;
  try { reloaded = window.sessionStorage.getItem(RELOADED) === "1"; } catch (e) { reloaded = true; }
  if (data && data.known === id) {
    try { window.sessionStorage.removeItem(RELOADED); } catch (e) { /* nothing to undo */ }
    return;
  }
  if (!reloaded) {  // first visit: open the page again, now with the cookie
    try { window.sessionStorage.setItem(RELOADED, "1"); } catch (e) { /* then no second reload */ }
    window.location.reload();
    return;
  }
  setStateValue("id", id);  // cookies are off: tell this session directly
}
""".replace("${COOKIE}", COOKIE)
_COMPONENT = st.components.v2.component("vae_workspace", js=_JS)


def mode() -> str:
    return settings.mode()


def _take_reported_id() -> None:
    value = (st.session_state.get(COMPONENT_KEY) or {}).get("id")
    if workspace.valid_workspace_id(value):
        st.session_state[WORKSPACE_KEY] = value


def _take_cookie() -> None:
    """The workspace id the browser sent as a cookie when this session's connection opened."""
    if WORKSPACE_KEY not in st.session_state:
        value = st.context.cookies.get(COOKIE)
        if workspace.valid_workspace_id(value):
            st.session_state[WORKSPACE_KEY] = value


def mount_workspace() -> None:
    """Ask the browser for its workspace id (classroom mode only); call once per run, from app.py."""
    if mode() != "classroom":
        return
    _take_cookie()
    _take_reported_id()
    _COMPONENT(key=COMPONENT_KEY, data={"known": st.session_state.get(WORKSPACE_KEY)},
               on_id_change=_take_reported_id)


def is_teacher() -> bool:
    return mode() == "classroom" and bool(st.session_state.get(TEACHER_KEY))


def actor() -> Actor | None:
    """The session's actor: LOCAL in local mode; in classroom mode the browser's workspace (None
    until the browser has reported it); None in public mode (nobody owns anything there)."""
    if mode() == "local":
        return workspace.LOCAL
    if mode() == "public":
        return None
    ws = st.session_state.get(WORKSPACE_KEY)
    return Actor(workspace=ws, teacher=is_teacher()) if workspace.valid_workspace_id(ws) else None


def _sign_in(token: str) -> bool:
    """Check a typed teacher token (a few tries per session); True when it is right."""
    tries = st.session_state.get("_teacher_tries", 0) + 1
    st.session_state["_teacher_tries"] = tries
    ok = tries <= MAX_TOKEN_TRIES and workspace.is_teacher_token(token)
    st.session_state[TEACHER_KEY] = ok
    return ok


def sidebar() -> None:
    """The mode, and in classroom mode the teacher's sign-in (when a token is configured)."""
    m = mode()
    text = {"local": "Local mode: one user on this machine.",
            "classroom": "Classroom mode: your models and jobs are private to this browser.",
            "public": "Public mode: explore the models; training is off."}[m]
    st.sidebar.caption(text)
    if m != "classroom" or settings.teacher_token() is None:
        return
    if is_teacher():
        st.sidebar.success("Signed in as the teacher: you see every job and can publish models to the class.")
        return
    with st.sidebar.expander("Teacher"), st.form("teacher_form", clear_on_submit=True, border=False):
        token = st.text_input("Teacher token", type="password", key=TOKEN_KEY)
        if not st.form_submit_button("Sign in"):
            return
        if _sign_in(token):
            st.rerun()
        too_many = st.session_state["_teacher_tries"] > MAX_TOKEN_TRIES
        st.error("Too many tries in this session." if too_many else "That token is not right.")

// Settings: theme and palette (kept in localStorage) and the API key.

import { useState } from "preact/hooks";
import { hasKey, saveKey } from "../lib/api.js";
import { STATE_TYPES } from "../lib/query.js";
import { StateBadge, applyTheme, html } from "../lib/ui.js";

export const THEMES = [["light", "Light"], ["dark", "Dark"]];
export const PALETTES = [["standard", "Standard"], ["okabe-ito", "Colour-blind safe (Okabe–Ito)"]];

export function SettingsPage() {
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  const [palette, setPalette] = useState(document.documentElement.dataset.palette);
  const [key, setKey] = useState("");
  const [keySaved, setKeySaved] = useState(hasKey());
  const choose = (name, setter) => (event) => {
    localStorage.setItem(`mintaka.${name}`, event.target.value);
    setter(event.target.value);
    applyTheme();
  };
  return html`<h1>Settings</h1>
    <fieldset>
      <legend>Theme</legend>
      ${THEMES.map(([value, text]) => html`<label class="choice"><input type="radio" name="theme" value=${value} checked=${theme === value} onChange=${choose("theme", setTheme)} /> ${text}</label>`)}
    </fieldset>
    <fieldset>
      <legend>Palette</legend>
      ${PALETTES.map(([value, text]) => html`<label class="choice"><input type="radio" name="palette" value=${value} checked=${palette === value} onChange=${choose("palette", setPalette)} /> ${text}</label>`)}
    </fieldset>
    <p class="legend" aria-label="States">${[...STATE_TYPES.slice(0, 1), "LATE", ...STATE_TYPES.slice(1)].map((t) => html`<${StateBadge} type=${t} /> `)}</p>
    <fieldset>
      <legend>API key</legend>
      <p class="muted">${keySaved ? "A key is saved in this browser." : "No key saved (needed only when the server requires one)."}</p>
      <form class="inline" onSubmit=${(e) => (e.preventDefault(), saveKey(key.trim()), setKeySaved(Boolean(key.trim())), setKey(""))}>
        <label for="settings-key">API key</label>
        <input id="settings-key" type="password" value=${key} onInput=${(e) => setKey(e.target.value)} autocomplete="off" placeholder="mk_…" />
        <button type="submit">Save key</button>
        ${keySaved && html`<button type="button" onClick=${() => (saveKey(""), setKeySaved(false))}>Forget key</button>`}
      </form>
    </fieldset>`;
}

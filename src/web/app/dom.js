// A small element builder: text always goes in as text, never as HTML.

/** `h('button', {class: 'x', onclick: f, 'aria-label': '…'}, 'text', child)` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (key === 'class') el.className = value
    else if (value === true) el.setAttribute(key, '')
    else el.setAttribute(key, String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return el
}

/** Replaces the page's content and moves focus to its heading, as a screen reader user expects on navigation. */
export function render(...children) {
  const main = document.getElementById('main')
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false))
  const heading = main.querySelector('h1')
  if (heading) {
    heading.setAttribute('tabindex', '-1')
    heading.focus({ preventScroll: true })
  }
}

let toastTimer
/** A short message, announced politely. */
export function toast(text) {
  const el = document.getElementById('toast')
  el.textContent = text
  el.classList.add('show')
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => el.classList.remove('show'), 4000)
}

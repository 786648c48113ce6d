// Switchboard board: the density, full or compact (small cards: at least
// 200 extensions on a 1920x1080 screen). Kept in localStorage; the class
// `compact` on <html> is all the CSS needs.
'use strict';

(() => {
  const KEY = 'switchboard.density';
  const root = document.documentElement;
  let stored = null;
  try { stored = localStorage.getItem(KEY); } catch (_) { /* private mode */ }
  function show(compact) {
    root.classList.toggle('compact', compact);
    const b = document.querySelector('[data-action=density]');
    if (b) {
      b.setAttribute('aria-pressed', String(compact));
      b.textContent = compact ? 'Compact: on' : 'Compact';
    }
  }
  show(stored === 'compact');
  const b = document.querySelector('[data-action=density]');
  if (b) {
    b.addEventListener('click', () => {
      const compact = !root.classList.contains('compact');
      try { localStorage.setItem(KEY, compact ? 'compact' : 'full'); } catch (_) { /* private mode */ }
      show(compact);
    });
  }
})();

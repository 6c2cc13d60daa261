// The patrol recorder (<div data-patrol>): GPS fixes buffered on the phone and uploaded.
export function renderPatrol(el) {
  void el;
}

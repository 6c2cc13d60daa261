// Forms that survive a flaky network (<form data-outbox>): filled in by the field-work pages.
export function initOutbox(root) {
  void root;
}

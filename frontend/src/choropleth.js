// Grids coloured by an indicator (<div data-choropleth>): filled in by the map page's work.
export function renderChoropleth(el) {
  void el;
}

/**
 * A hand-written SVG chart for docs/performance.md (issue 6: "an SVG chart made by the bench
 * itself"): one panel per measurement, one horizontal bar per path (the median), a thin line
 * from min to max, the value printed next to it. Each panel has its own scale starting at 0, so
 * bars compare paths within a panel, never across panels. Plain SVG 1.1, no script, no
 * external font or style: it renders the same on GitHub, in a browser and in an editor.
 */

export interface ChartBar {
  readonly label: string;
  readonly color: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** The text printed after the bar, e.g. "690 MB/s". */
  readonly text: string;
}

export interface ChartPanel {
  readonly title: string;
  readonly bars: readonly ChartBar[];
}

export interface ChartSpec {
  readonly title: string;
  readonly subtitle: string;
  readonly panels: readonly ChartPanel[];
}

const WIDTH = 820;
const MARGIN = 16;
const LABEL_WIDTH = 190;
const VALUE_WIDTH = 150;
const BAR_HEIGHT = 16;
const BAR_GAP = 6;
const PANEL_TITLE_HEIGHT = 22;
const PANEL_GAP = 14;
const HEADER_HEIGHT = 52;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Escape text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const px = (value: number): string => (Math.round(value * 10) / 10).toString();

export function renderChart(spec: ChartSpec): string {
  const barArea = WIDTH - 2 * MARGIN - LABEL_WIDTH - VALUE_WIDTH;
  const parts: string[] = [];
  let y = HEADER_HEIGHT;
  for (const panel of spec.panels) {
    parts.push(`<text x="${MARGIN}" y="${px(y + 15)}" font-size="13" font-weight="bold" fill="#222">${escapeXml(panel.title)}</text>`);
    y += PANEL_TITLE_HEIGHT;
    const scaleMax = Math.max(...panel.bars.map((bar) => Math.max(bar.max, bar.median)), Number.MIN_VALUE);
    const x0 = MARGIN + LABEL_WIDTH;
    parts.push(`<line x1="${x0}" y1="${px(y - 2)}" x2="${x0}" y2="${px(y + panel.bars.length * (BAR_HEIGHT + BAR_GAP) - BAR_GAP + 2)}" stroke="#999" stroke-width="1"/>`);
    for (const bar of panel.bars) {
      const scale = (value: number): number => (Math.max(0, value) / scaleMax) * barArea;
      const width = Math.max(1, scale(bar.median));
      const middle = y + BAR_HEIGHT / 2;
      parts.push(
        `<text x="${x0 - 8}" y="${px(middle + 4)}" font-size="12" text-anchor="end" fill="#333">${escapeXml(bar.label)}</text>`,
        `<rect x="${x0}" y="${px(y)}" width="${px(width)}" height="${BAR_HEIGHT}" fill="${escapeXml(bar.color)}"><title>${escapeXml(`${bar.label}: ${bar.text} (min ${bar.min}, max ${bar.max})`)}</title></rect>`,
        `<line x1="${px(x0 + scale(bar.min))}" y1="${px(middle)}" x2="${px(x0 + scale(bar.max))}" y2="${px(middle)}" stroke="#111" stroke-width="1.5"/>`,
        `<line x1="${px(x0 + scale(bar.min))}" y1="${px(middle - 4)}" x2="${px(x0 + scale(bar.min))}" y2="${px(middle + 4)}" stroke="#111" stroke-width="1.5"/>`,
        `<line x1="${px(x0 + scale(bar.max))}" y1="${px(middle - 4)}" x2="${px(x0 + scale(bar.max))}" y2="${px(middle + 4)}" stroke="#111" stroke-width="1.5"/>`,
        `<text x="${px(x0 + Math.max(width, scale(bar.max)) + 6)}" y="${px(middle + 4)}" font-size="12" fill="#333">${escapeXml(bar.text)}</text>`,
      );
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += PANEL_GAP;
  }
  const height = Math.ceil(y + MARGIN - PANEL_GAP);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} role="img" aria-label="${escapeXml(spec.title)}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${MARGIN}" y="22" font-size="16" font-weight="bold" fill="#111">${escapeXml(spec.title)}</text>`,
    `<text x="${MARGIN}" y="40" font-size="11" fill="#555">${escapeXml(spec.subtitle)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * A one-line spinner on stderr for work that may take more than a second. It draws only on a terminal, never
 * in --json mode, and stays quiet for the first second so fast steps do not flicker.
 */
export class Spinner {
  private timer: NodeJS.Timeout | undefined;
  private text = '';
  private started = 0;
  private frame = 0;
  private drawn = false;
  private static readonly FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

  constructor(private readonly enabled: boolean = Boolean(process.stderr.isTTY)) {}

  start(text: string): void {
    this.text = text;
    this.started = Date.now();
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  update(text: string): void {
    this.text = text;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) process.stderr.write('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(): void {
    const elapsed = Date.now() - this.started;
    if (elapsed < 1000) return;
    const frame = Spinner.FRAMES[this.frame++ % Spinner.FRAMES.length];
    const width = (process.stderr.columns ?? 80) - 12;
    const text = this.text.length > width ? `${this.text.slice(0, width - 1)}…` : this.text;
    process.stderr.write(`\r\x1b[2K${frame} ${text} ${(elapsed / 1000).toFixed(0)}s`);
    this.drawn = true;
  }
}

import Foundation

/// `tradeoff.svg`: quality against steps (left) and against latency per sample (right), one line
/// per model, log-scaled x axes, standard-error bars. Written by hand: two panels of polylines.
public enum TradeoffPlot {
  public struct Series {
    public var name: String
    /// (steps, latency, quality, standard error)
    public var points: [(steps: Double, latency: Double, value: Double, se: Double)]
  }

  static let palette = ["#1b1b1b", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

  /// Quality against per-sample entropy at one step count: the teacher's free sampler variants
  /// (their lower-left envelope is what sampling alone can reach), the students' points, and the
  /// entropy floor below which a variant does not count.
  public struct Frontier {
    public var steps: Int
    public var entropyFloor: Double
    /// (label, entropy, value, standard error)
    public var teacher: [(label: String, entropy: Double, value: Double, se: Double)]
    public var students: [(label: String, entropy: Double, value: Double, se: Double)]
  }

  public static func svg(series: [Series], metric: String, title: String, frontier: Frontier? = nil) -> String {
    let width = frontier == nil ? 1000.0 : 1490.0, height = 460.0, panelW = 400.0, panelH = 300.0, top = 60.0
    let lefts = [70.0, 70.0 + panelW + 90.0]
    let all = series.flatMap(\.points)
    guard !all.isEmpty else { return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>" }
    let yLo = max(0, (all.map { $0.value - $0.se }.min() ?? 0)), yHi = (all.map { $0.value + $0.se }.max() ?? 1)
    let yPad = (yHi - yLo) * 0.08 + 1e-9
    let (y0, y1) = (max(0, yLo - yPad), yHi + yPad)
    func logRange(_ xs: [Double]) -> (Double, Double) {
      let lo = log2(xs.filter { $0 > 0 }.min() ?? 1), hi = log2(xs.filter { $0 > 0 }.max() ?? 2)
      return hi > lo ? (lo - 0.2, hi + 0.2) : (lo - 1, hi + 1)
    }
    let sx = logRange(all.map(\.steps)), lx = logRange(all.map(\.latency))
    var out = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(width / 2)" y="24" text-anchor="middle" font-size="16" font-weight="bold">\(escape(title))</text>

    """
    for (panel, left) in lefts.enumerated() {
      let range = panel == 0 ? sx : lx
      func px(_ x: Double) -> Double { left + (log2(x) - range.0) / (range.1 - range.0) * panelW }
      func py(_ y: Double) -> Double { top + panelH - (y - y0) / (y1 - y0) * panelH }
      out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(panelW)\" height=\"\(panelH)\" fill=\"none\" stroke=\"#888\"/>\n"
      // y ticks
      for i in 0...5 {
        let v = y0 + (y1 - y0) * Double(i) / 5
        out += "<line x1=\"\(left - 4)\" x2=\"\(left + panelW)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#eee\"/>"
        out += "<text x=\"\(left - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(format(v))</text>\n"
      }
      // x ticks: powers of two for steps, 1-2-5 per decade for seconds (round numbers a reader can use)
      for x in panel == 0 ? powersOfTwo(in: range) : oneTwoFive(in: range) {
        out += "<line x1=\"\(px(x))\" x2=\"\(px(x))\" y1=\"\(top)\" y2=\"\(top + panelH + 4)\" stroke=\"#eee\"/>"
        out += "<text x=\"\(px(x))\" y=\"\(top + panelH + 18)\" text-anchor=\"middle\">\(panel == 0 ? String(Int(x)) : format(x))</text>\n"
      }
      let xLabel = panel == 0 ? "sampling steps (log scale)" : "seconds per sample (log scale)"
      out += "<text x=\"\(left + panelW / 2)\" y=\"\(top + panelH + 38)\" text-anchor=\"middle\">\(xLabel)</text>\n"
      out += "<text transform=\"translate(\(left - 48), \(top + panelH / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(metric))</text>\n"
      for (i, s) in series.enumerated() {
        let color = palette[i % palette.count]
        let pts = s.points.sorted { panel == 0 ? $0.steps < $1.steps : $0.latency < $1.latency }
        let xs = pts.map { panel == 0 ? $0.steps : $0.latency }
        let path = zip(xs, pts).map { "\(px($0)),\(py($1.value))" }.joined(separator: " ")
        out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
        for (x, p) in zip(xs, pts) {
          out += "<line x1=\"\(px(x))\" x2=\"\(px(x))\" y1=\"\(py(p.value - p.se))\" y2=\"\(py(p.value + p.se))\" stroke=\"\(color)\"/>"
          out += "<circle cx=\"\(px(x))\" cy=\"\(py(p.value))\" r=\"3.5\" fill=\"\(color)\"/>\n"
        }
      }
    }
    if let frontier { out += frontierPanel(frontier, left: 70 + 2 * (panelW + 90), top: top, width: panelW, height: panelH,
                                          metric: metric) }
    // legend
    for (i, s) in series.enumerated() {
      let y = top + panelH + 58 + Double(i / 5) * 16, x = 70 + Double(i % 5) * 170
      out += "<rect x=\"\(x)\" y=\"\(y - 9)\" width=\"14\" height=\"4\" fill=\"\(palette[i % palette.count])\"/>"
      out += "<text x=\"\(x + 20)\" y=\"\(y - 4)\">\(escape(s.name))</text>\n"
    }
    return out + "</svg>\n"
  }

  static func frontierPanel(_ f: Frontier, left: Double, top: Double, width: Double, height: Double, metric: String) -> String {
    let all = f.teacher + f.students
    guard !all.isEmpty else { return "" }
    let xs = all.map(\.entropy) + [f.entropyFloor], ys = all.flatMap { [$0.value - $0.se, $0.value + $0.se] }
    let (x0, x1) = (xs.min()! - 0.03, xs.max()! + 0.03)
    let pad = (ys.max()! - ys.min()!) * 0.08 + 1e-9
    let (y0, y1) = (max(0, ys.min()! - pad), ys.max()! + pad)
    func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * width }
    func py(_ y: Double) -> Double { top + height - (y - y0) / (y1 - y0) * height }
    var out = "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#888\"/>\n"
    for i in 0...5 {
      let v = y0 + (y1 - y0) * Double(i) / 5, x = x0 + (x1 - x0) * Double(i) / 5
      out += "<text x=\"\(left - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(format(v))</text>"
      out += "<text x=\"\(px(x))\" y=\"\(top + height + 18)\" text-anchor=\"middle\">\(String(format: "%.2f", x))</text>\n"
    }
    out += "<text x=\"\(left + width / 2)\" y=\"\(top + height + 38)\" text-anchor=\"middle\">per-sample entropy (nats) at \(f.steps) steps</text>\n"
    out += "<text transform=\"translate(\(left - 48), \(top + height / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(metric))</text>\n"
    // The entropy floor: variants left of it lost diversity and do not count.
    out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(max(0, px(f.entropyFloor) - left))\" height=\"\(height)\" fill=\"#f3f3f3\"/>"
    out += "<line x1=\"\(px(f.entropyFloor))\" x2=\"\(px(f.entropyFloor))\" y1=\"\(top)\" y2=\"\(top + height)\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
    // The teacher's envelope: for each entropy, the best value at that entropy or above.
    let sorted = f.teacher.sorted { $0.entropy > $1.entropy }
    var envelope: [(Double, Double)] = [], best = Double.infinity
    for p in sorted where p.value < best { best = p.value; envelope.append((p.entropy, p.value)) }
    out += "<polyline points=\"\(envelope.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " "))\" fill=\"none\" stroke=\"\(palette[0])\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>\n"
    for (points, color) in [(f.teacher, palette[0]), (f.students, palette[1])] {
      for p in points {
        out += "<line x1=\"\(px(p.entropy))\" x2=\"\(px(p.entropy))\" y1=\"\(py(p.value - p.se))\" y2=\"\(py(p.value + p.se))\" stroke=\"\(color)\"/>"
        out += "<circle cx=\"\(px(p.entropy))\" cy=\"\(py(p.value))\" r=\"3.5\" fill=\"\(color)\"><title>\(escape(p.label))</title></circle>\n"
      }
    }
    out += "<text x=\"\(left + 6)\" y=\"\(top + 16)\" font-size=\"11\">black: teacher's free samplers (dashed: best reachable); red: students</text>\n"
    return out
  }

  /// 2^e inside a log2 range.
  static func powersOfTwo(in range: (Double, Double)) -> [Double] {
    stride(from: ceil(range.0), through: range.1, by: 1).map { pow(2, $0) }
  }

  /// 1, 2 and 5 × 10^e inside a log2 range.
  static func oneTwoFive(in range: (Double, Double)) -> [Double] {
    let lo = pow(2, range.0), hi = pow(2, range.1)
    var ticks: [Double] = []
    for e in Int(floor(log10(lo)))...Int(ceil(log10(hi))) {
      for m in [1.0, 2, 5] where (lo...hi).contains(m * pow(10, Double(e))) { ticks.append(m * pow(10, Double(e))) }
    }
    return ticks
  }

  static func format(_ v: Double) -> String {
    if v == 0 { return "0" }
    if abs(v) >= 100 { return String(format: "%.0f", v) }
    if abs(v) >= 1 { return String(format: "%.2g", v) }
    return String(format: "%.2g", v)
  }

  static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
  }
}

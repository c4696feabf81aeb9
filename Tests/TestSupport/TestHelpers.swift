import Foundation

/// SplitMix64: the same numbers on every run, so fuzz and synthetic cases are reproducible.
public struct SeededGenerator: RandomNumberGenerator {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Floats in [-1, 1).
  public mutating func floats(_ count: Int) -> [Float] {
    (0..<count).map { _ in Float.random(in: -1..<1, using: &self) }
  }
}

/// A fresh folder under the system temporary directory; `remove()` deletes it. Folders left by
/// earlier runs (over an hour old) are removed on first use.
public struct Scratch {
  public let url: URL

  static let root: URL = {
    let fm = FileManager.default
    let prefix = "pgm-tests-"
    for name in (try? fm.contentsOfDirectory(atPath: fm.temporaryDirectory.path)) ?? [] where name.hasPrefix(prefix) {
      let url = fm.temporaryDirectory.appendingPathComponent(name)
      if let modified = try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date,
         modified.timeIntervalSinceNow < -3600 {
        try? fm.removeItem(at: url)
      }
    }
    return fm.temporaryDirectory.appendingPathComponent(prefix + "\(ProcessInfo.processInfo.processIdentifier)")
  }()

  public init(_ name: String = "case") throws {
    url = Scratch.root.appendingPathComponent(name + "-" + UUID().uuidString.prefix(8))
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

  public func remove() { try? FileManager.default.removeItem(at: url) }
}

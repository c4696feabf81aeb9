import Foundation

/// The numeric kernels are compiled for AVX2 + FMA (x86-64-v3). On an older CPU they would die
/// with an illegal instruction; this check, compiled without those instructions, says so first.
enum CPUCheck {
  static func requireVectorUnits() {
    #if arch(x86_64) && os(Linux)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    let missing = ["avx2", "fma"].filter { !flags.contains($0) }
    if !missing.isEmpty {
      FileHandle.standardError.write("pgm: this CPU lacks \(missing.joined(separator: ", ")); the kernels need AVX2 and FMA (x86-64-v3).\n".data(using: .utf8)!)
      exit(2)
    }
    #endif
  }
}

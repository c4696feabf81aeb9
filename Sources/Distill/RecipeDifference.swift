import Foundation

/// Which fields of two recipes differ ("pretrain.optimizer.lr", "seed"), for the error that
/// refuses to resume a run folder with another recipe.
enum RecipeDifference {
  static func fields(_ a: Recipe, _ b: Recipe, limit: Int = 6) -> [String] {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    guard let x = try? enc.encode(a), let y = try? enc.encode(b),
          let u = try? JSONSerialization.jsonObject(with: x), let v = try? JSONSerialization.jsonObject(with: y) else { return [] }
    var out: [String] = []
    diff(u, v, path: "", into: &out)
    return out.count > limit ? Array(out.prefix(limit)) + ["…"] : out
  }

  static func diff(_ a: Any, _ b: Any, path: String, into out: inout [String]) {
    if let x = a as? [String: Any], let y = b as? [String: Any] {
      for key in Set(x.keys).union(y.keys).sorted() {
        let p = path.isEmpty ? key : path + "." + key
        switch (x[key], y[key]) {
        case let (l?, r?): diff(l, r, path: p, into: &out)
        default: out.append(p)
        }
      }
      return
    }
    if let x = a as? NSObject, let y = b as? NSObject, x.isEqual(y) { return }
    out.append(path.isEmpty ? "the recipe" : path)
  }
}

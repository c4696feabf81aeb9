import Foundation
import Student

let bench = TrainingBenchmark()
let f = try bench.run { print($0) }
let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
print(String(data: try enc.encode(f), encoding: .utf8)!)

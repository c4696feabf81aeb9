import ArgumentParser
import Distill
import Teacher

/// A comma-separated list of positive step counts ("8,16,32").
struct StepCounts: ExpressibleByArgument, CustomStringConvertible {
  var values: [Int]

  init(_ values: [Int]) { self.values = values }

  init?(argument: String) {
    let parts = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let numbers = parts.compactMap { Int($0) }
    guard !parts.isEmpty, numbers.count == parts.count, numbers.allSatisfy({ $0 >= 1 }) else { return nil }
    values = numbers
  }

  var description: String { values.map(String.init).joined(separator: ",") }
  static var defaultCompletionKind: CompletionKind { .default }
}

extension PartitionSchedule: ExpressibleByArgument {}
extension RevealOrder: ExpressibleByArgument {}

/// What `pgm pretrain` trains.
enum PretrainPart: String, ExpressibleByArgument, CaseIterable {
  case teacher, evaluator
}

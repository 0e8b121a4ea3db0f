import Foundation

/// Training losses over rows of logits (one row per token), each with its gradient with respect to the logits
/// it is given; losses are means over rows, accumulated in Double.
public enum LossFunction {
    /// Cross-entropy over the rows whose target is not `ignored` (-1; e.g. a sequence's last token, which
    /// predicts nothing): L = mean_t (logsumexp(z_t) - z_t[y_t]);  dL/dz_t = (softmax(z_t) - onehot(y_t)) / T,
    /// zero on ignored rows.
    public static func crossEntropy(logits z: Matrix<Float>, targets: [Int32]) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>) {
        guard targets.count == z.rows else { throw .shapeMismatch("cross-entropy: \(targets.count) targets for \(z.rows) rows of logits") }
        if let bad = targets.first(where: { $0 != ignored && ($0 < 0 || Int($0) >= z.columns) }) {
            throw .invalidArgument("cross-entropy: target \(bad) is outside the \(z.columns) classes")
        }
        let counted = targets.filter { $0 != ignored }.count
        guard counted > 0 else { throw .invalidArgument("cross-entropy: every target is ignored") }
        var gradient = Matrix<Float>(rows: z.rows, columns: z.columns, repeating: 0), loss = 0.0
        for t in 0..<z.rows where targets[t] != ignored {
            let (logSum, probabilities) = softmax(z.row(t))
            loss += logSum - Double(z[t, Int(targets[t])])
            for c in 0..<z.columns { gradient[t, c] = probabilities[c] / Float(counted) }
            gradient[t, Int(targets[t])] -= 1 / Float(counted)
        }
        return (loss / Double(counted), gradient)
    }

    /// The target that marks a row as not predicting anything.
    public static let ignored: Int32 = -1

    /// Knowledge distillation: L = mean_t KL(p_t || q_t) = mean_t sum_c p (log p - log q), p = softmax(teacher),
    /// q = softmax(student);  dL/dstudent_t = (q_t - p_t) / T.
    public static func klDivergence(student: Matrix<Float>, teacher: Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>) {
        guard student.rows == teacher.rows, student.columns == teacher.columns else {
            throw .shapeMismatch("KL divergence: student logits \(student.shape) vs teacher logits \(teacher.shape)")
        }
        var gradient = student, loss = 0.0
        let rows = Float(student.rows)
        for t in 0..<student.rows {
            let (studentLogSum, q) = softmax(student.row(t))
            let (teacherLogSum, p) = softmax(teacher.row(t))
            for c in 0..<student.columns {
                if p[c] > 0 {
                    let logP = Double(teacher[t, c]) - teacherLogSum, logQ = Double(student[t, c]) - studentLogSum
                    loss += Double(p[c]) * (logP - logQ)
                }
                gradient[t, c] = (q[c] - p[c]) / rows
            }
        }
        return (loss / Double(student.rows), gradient)
    }

    /// Mean squared error L = mean over all elements of (a - b)^2;  dL/da = 2 (a - b) / count.
    public static func meanSquaredError(_ a: Matrix<Float>, target b: Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>) {
        guard a.rows == b.rows, a.columns == b.columns else { throw .shapeMismatch("MSE: \(a.shape) vs target \(b.shape)") }
        var gradient = a, loss = 0.0
        let n = Float(a.count)
        for i in 0..<a.count {
            let difference = a.storage[i] - b.storage[i]
            loss += Double(difference * difference)
            gradient.storage[i] = 2 * difference / n
        }
        return (loss / Double(a.count), gradient)
    }

    /// log sum_c e^{z_c} (in Double) and softmax(z), shifted by max z.
    static func softmax(_ z: ArraySlice<Float>) -> (logSum: Double, probabilities: [Float]) {
        let top = z.max() ?? 0
        var sum = 0.0
        for v in z { sum += exp(Double(v - top)) }
        return (Double(top) + log(sum), z.map { Float(exp(Double($0 - top)) / sum) })
    }
}

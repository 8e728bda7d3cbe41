//! The tool: arithmetic on decimal numbers with `+ - * /`, parentheses and unary minus, by
//! recursive descent (one function per precedence level).

/// Evaluates `expression`, or says why it cannot.
pub(crate) fn evaluate(expression: &str) -> Result<f64, String> {
    let tokens: Vec<char> = expression.chars().filter(|c| !c.is_whitespace()).collect();
    let mut parser = Parser { tokens, pos: 0 };
    let value = parser.sum()?;
    match parser.peek() {
        None => Ok(value),
        Some(c) => Err(format!("unexpected `{c}`")),
    }
}

/// The part of `text` the calculator can read: the first run of digits, operators, parentheses
/// and spaces that holds a digit (`what is 12*(3+4)?` gives `12*(3+4)`).
pub(crate) fn find_expression(text: &str) -> Option<&str> {
    let is_math = |c: char| c.is_ascii_digit() || "+-*/(). ".contains(c);
    let mut rest = text;
    while let Some(start) = rest.find(is_math) {
        let run = &rest[start..];
        let end = run.find(|c| !is_math(c)).unwrap_or(run.len());
        let candidate = run[..end].trim();
        if candidate.chars().any(|c| c.is_ascii_digit()) {
            return Some(candidate);
        }
        rest = &run[end..];
    }
    None
}

/// `84.0` as `84`, `0.5` as `0.5`: how a person writes the answer.
pub(crate) fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

struct Parser {
    tokens: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.tokens.get(self.pos).copied()
    }

    /// sum := product (('+' | '-') product)*
    fn sum(&mut self) -> Result<f64, String> {
        let mut value = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.pos += 1;
            let rhs = self.product()?;
            value = if op == '+' { value + rhs } else { value - rhs };
        }
        Ok(value)
    }

    /// product := factor (('*' | '/') factor)*
    fn product(&mut self) -> Result<f64, String> {
        let mut value = self.factor()?;
        while let Some(op @ ('*' | '/')) = self.peek() {
            self.pos += 1;
            let rhs = self.factor()?;
            if op == '/' && rhs == 0.0 {
                return Err("division by zero".into());
            }
            value = if op == '*' { value * rhs } else { value / rhs };
        }
        Ok(value)
    }

    /// factor := '-' factor | '(' sum ')' | number
    fn factor(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('-') => {
                self.pos += 1;
                Ok(-self.factor()?)
            }
            Some('(') => {
                self.pos += 1;
                let value = self.sum()?;
                if self.peek() != Some(')') {
                    return Err("missing `)`".into());
                }
                self.pos += 1;
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.pos += 1;
                }
                let number: String = self.tokens[start..self.pos].iter().collect();
                number.parse().map_err(|_| format!("bad number `{number}`"))
            }
            Some(c) => Err(format!("unexpected `{c}`")),
            None => Err("the expression ends too soon".into()),
        }
    }
}

//! `grafi-store demo`: simulated agent runs, recorded and read back.
//!
//! Each conversation is a grafi ReAct agent at work: assistant → workflow → LLM node (LLM
//! tool) → function node (function tool) → LLM node → output topic, with topic publish and
//! consume events, in the order grafi records them. Some runs fail (an LLM rate limit, a
//! tool timeout) and produce grafi's Tool → Node → Workflow → Assistant failure chain.
//! Latencies come from a fixed-seed generator, so every run tells the same story; event ids
//! are fresh uuid4s, as in grafi.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use grafi_events::{
    new_id, python_json, ComponentInfo, ConsumeFromTopic, Content, Dialect, Event, InvokeContext,
    Message, NodeInfo, Timestamp,
};
use grafi_store::{EventStore, RecordOutcome, Selection};
use serde_json::json;

use crate::input::shorten;
use crate::timeline::{duration, request_stats, stats_line, timeline_line, RequestStats};
use crate::{outln, Outcome};

/// Conversations whose full timeline is printed; the rest appear in the summary only.
const TIMELINES: usize = 4;
/// Rows of the summary table.
const SUMMARY_ROWS: usize = 30;

pub async fn run(
    store: Arc<dyn EventStore>,
    selection: &Selection,
    conversations: usize,
    dialect: Dialect,
) -> anyhow::Result<Outcome> {
    let where_ = if selection.url.is_memory() {
        "in-process, nothing persists".to_owned()
    } else {
        "events stay in the store after the demo".to_owned()
    };
    outln!("grafi-store demo · store {} ({where_})", selection.url)?;
    outln!()?;

    // 1. Simulate.
    let mut sim = Sim::new(conversations);
    let mut runs: Vec<ConversationRun> = (0..conversations).map(|i| sim.conversation(i)).collect();
    if dialect == Dialect::V0_0_36 {
        for request in runs.iter_mut().flat_map(|c| &mut c.requests) {
            let events = std::mem::take(&mut request.events);
            request.events = events.into_iter().map(Event::into_grafi_0_0_36).collect();
        }
    }
    let total_events: usize = runs
        .iter()
        .flat_map(|c| &c.requests)
        .map(|r| r.events.len())
        .sum();
    let total_requests: usize = runs.iter().map(|c| c.requests.len()).sum();
    outln!(
        "Simulated {conversations} conversation{} ({total_requests} requests, {total_events} events) \
         with the typed event constructors, in grafi {dialect}'s format.",
        plural(conversations)
    )?;

    // 2. Record, one record_events call per request, as an agent would after each run.
    let started = Instant::now();
    let mut recorded = RecordOutcome::default();
    for request in runs.iter().flat_map(|c| &c.requests) {
        recorded += store.record_events(request.events.clone()).await?;
    }
    outln!(
        "Recorded them with record_events: {} new, {} duplicates, in {}.",
        recorded.recorded,
        recorded.duplicates,
        duration(started.elapsed().as_secs_f64() * 1000.0)
    )?;

    // 3. Read back per conversation and per request.
    outln!(
        "Timelines below are read back from the store, in recording order. grafi records a node's \
         ConsumeFromTopic\nafter the node responds, stamped when it consumed: hence their earlier times."
    )?;
    let mut rows = Vec::new();
    for (i, conv) in runs.iter().enumerate() {
        let conv_events = store.get_conversation_events(&conv.id).await?;
        let expected: usize = conv.requests.iter().map(|r| r.events.len()).sum();
        let show = i < TIMELINES;
        if show {
            outln!()?;
            outln!(
                "━━ Conversation {}/{conversations} · {} · user {} · {} ({})",
                i + 1,
                conv.id,
                conv.user,
                conv.assistant,
                conv.assistant_type
            )?;
            outln!(
                "   get_conversation_events → {} events{}",
                conv_events.len(),
                check_mark(conv_events.len() == expected)
            )?;
        }
        for (r, request) in conv.requests.iter().enumerate() {
            let events = store.get_agent_events(&request.id).await?;
            let stats = request_stats(&events);
            if show {
                outln!()?;
                outln!(
                    "   Request {} · {} · {:?}",
                    r + 1,
                    request.id,
                    shorten(&request.question, 70)
                )?;
                outln!(
                    "   get_agent_events → {} events{}",
                    events.len(),
                    check_mark(events.len() == request.events.len())
                )?;
                let start = events.first().map(|e| e.utc()).unwrap_or_else(Utc::now);
                for event in &events {
                    outln!("     {}", timeline_line(event, start))?;
                }
                let verdict = match stats.succeeded {
                    Some(true) => "✓ succeeded".to_owned(),
                    Some(false) => format!(
                        "✗ failed: {}",
                        shorten(stats.error.as_deref().unwrap_or("unknown error"), 60)
                    ),
                    None => "… no outcome".to_owned(),
                };
                outln!("   {verdict}")?;
                outln!("   {}", stats_line(&stats))?;
            }
            rows.push(Row {
                request: request.id.clone(),
                conversation: conv.id.clone(),
                user: conv.user.clone(),
                stats,
            });
        }
    }
    if conversations > TIMELINES {
        outln!()?;
        outln!(
            "(timelines of the other {} conversations are not shown; they are in the summary)",
            conversations - TIMELINES
        )?;
    }

    print_summary(&rows, conversations, total_events)?;

    // 4. Two more things the store guarantees.
    if let Some(first) = runs.first().and_then(|c| c.requests.first()) {
        let again = store.record_events(first.events.clone()).await?;
        outln!()?;
        outln!(
            "Idempotency: recording request 1's {} events again → {} new, {} duplicates.",
            first.events.len(),
            again.recorded,
            again.duplicates
        )?;
    }
    let topic = store.get_topic_events("agent_input_topic", &[0]).await?;
    outln!(
        "Topics: get_topic_events(\"agent_input_topic\", [0]) → {} record{} (each request's input; \
         offsets restart with every workflow run).",
        topic.len(),
        plural(topic.len())
    )?;
    outln!()?;
    if selection.url.is_memory() {
        outln!("Next: keep events in PostgreSQL with --store postgres://user@host:5432/db (or GRAFI_STORE_URL),")?;
        outln!("      then `grafi-store export --conversation <id>` and `grafi-store stats`;")?;
        outln!("      check or load grafi's own events with `grafi-store validate|import events.jsonl`.")?;
    } else {
        outln!(
            "Next: `grafi-store export --conversation {}` prints a conversation as grafi JSONL; \
             `grafi-store stats` sums up the store.",
            runs.first().map_or("<id>", |c| c.id.as_str())
        )?;
    }
    Ok(Outcome::Success)
}

fn check_mark(ok: bool) -> &'static str {
    if ok {
        " ✓ (as recorded)"
    } else {
        " ✗ (differs from what was recorded: the store holds other events of this id)"
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

struct Row {
    request: String,
    conversation: String,
    user: String,
    stats: RequestStats,
}

fn print_summary(rows: &[Row], conversations: usize, total_events: usize) -> anyhow::Result<()> {
    outln!()?;
    outln!("Per-request summary")?;
    outln!(
        "  {:<10} {:<10} {:<10} {:>6} {:>7} {:>8} {:>8} {:>8} {:>9}  outcome",
        "request",
        "conv",
        "user",
        "events",
        "invokes",
        "responds",
        "failures",
        "success",
        "latency"
    )?;
    for row in rows.iter().take(SUMMARY_ROWS) {
        let s = &row.stats;
        outln!(
            "  {:<10} {:<10} {:<10} {:>6} {:>7} {:>8} {:>8} {:>8} {:>9}  {}",
            &row.request[..row.request.len().min(8)],
            &row.conversation[..row.conversation.len().min(8)],
            shorten(&row.user, 10),
            s.events,
            s.invokes,
            s.responds,
            s.failures,
            s.success_rate()
                .map_or("-".to_owned(), |r| format!("{r:.0}%")),
            s.end_to_end_ms().map_or("-".to_owned(), duration),
            match s.succeeded {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "…",
            }
        )?;
    }
    if rows.len() > SUMMARY_ROWS {
        outln!("  … {} more requests", rows.len() - SUMMARY_ROWS)?;
    }
    let succeeded = rows
        .iter()
        .filter(|r| r.stats.succeeded == Some(true))
        .count();
    let failed = rows
        .iter()
        .filter(|r| r.stats.succeeded == Some(false))
        .count();
    let mut latencies: Vec<f64> = rows
        .iter()
        .filter(|r| r.stats.succeeded == Some(true))
        .filter_map(|r| r.stats.end_to_end_ms())
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let invokes: usize = rows.iter().map(|r| r.stats.invokes).sum();
    let responds: usize = rows.iter().map(|r| r.stats.responds).sum();
    let failures: usize = rows.iter().map(|r| r.stats.failures).sum();
    outln!(
        "  {} requests in {conversations} conversation{}, {total_events} events: {succeeded} succeeded, \
         {failed} failed (request success rate {:.0}%)",
        rows.len(),
        plural(conversations),
        100.0 * succeeded as f64 / (succeeded + failed).max(1) as f64
    )?;
    outln!(
        "  components: {invokes} invokes, {responds} responds, {failures} failures (success rate {:.1}%)",
        100.0 * responds as f64 / (responds + failures).max(1) as f64
    )?;
    if !latencies.is_empty() {
        outln!(
            "  end-to-end latency of successful requests: median {}, max {}",
            duration(latencies[latencies.len() / 2]),
            duration(latencies[latencies.len() - 1])
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The simulation.

/// SplitMix64: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }

    /// An OpenAI-style tool call id.
    fn call_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let id: String = (0..24)
            .map(|_| ALPHABET[self.next() as usize % ALPHABET.len()] as char)
            .collect();
        format!("call_{id}")
    }
}

/// The simulated clock, the random source and the agents' cast.
struct Sim {
    now: DateTime<Utc>,
    rng: Rng,
}

struct ConversationRun {
    id: String,
    user: String,
    assistant: String,
    assistant_type: String,
    requests: Vec<RequestRun>,
}

struct RequestRun {
    id: String,
    question: String,
    events: Vec<Event>,
}

/// The components of one ReAct agent (ids stay stable across its requests, as in grafi).
#[derive(Clone)]
struct Agent {
    assistant: ComponentInfo,
    workflow: ComponentInfo,
    llm_node: NodeInfo,
    llm: ComponentInfo,
    function_node: NodeInfo,
    toolkit: ComponentInfo,
}

impl Agent {
    fn new(prefix: &str, assistant: &str, workflow: &str, toolkit: &str) -> Self {
        let mut llm_node = NodeInfo::new(format!("{prefix}LLMNode"), "LLMNode");
        llm_node.subscribed_topics =
            vec!["agent_input_topic".into(), "function_result_topic".into()];
        llm_node.publish_to_topics =
            vec!["function_call_topic".into(), "agent_output_topic".into()];
        let mut function_node = NodeInfo::new(format!("{prefix}FunctionNode"), "FunctionCallNode");
        function_node.subscribed_topics = vec!["function_call_topic".into()];
        function_node.publish_to_topics = vec!["function_result_topic".into()];
        Self {
            assistant: ComponentInfo::new(assistant, "ReActAssistant"),
            workflow: ComponentInfo::new(workflow, "EventDrivenWorkflow"),
            llm_node,
            llm: ComponentInfo::new(format!("{prefix}LLM"), "OpenAITool"),
            function_node,
            toolkit: ComponentInfo::new(toolkit, "FunctionCallTool"),
        }
    }
}

/// What the LLM does at one turn of a request.
enum Turn {
    /// Calls functions: (name, arguments JSON, result JSON) each; `Err` if the toolkit fails.
    Call(Vec<(String, String, String)>, Result<(), String>),
    /// The LLM API fails.
    LlmError(String),
    /// Answers.
    Answer(String),
}

struct Script {
    question: String,
    turns: Vec<Turn>,
}

const CITIES: &[(&str, &str, &str, f64)] = &[
    ("Tokyo", "JPY", "humid with afternoon thunderstorms", 31.4),
    ("Lisbon", "EUR", "sunny with a light Atlantic breeze", 27.0),
    ("Reykjavik", "ISK", "overcast with drizzle", 12.5),
    ("Singapore", "SGD", "hot with scattered showers", 32.1),
    ("Vancouver", "CAD", "mild and partly cloudy", 21.3),
];
const USERS: &[&str] = &[
    "maya.k",
    "d.okafor",
    "lena.v",
    "sam.rivera",
    "yuki.t",
    "omar.h",
    "ines.p",
];

impl Sim {
    fn new(conversations: usize) -> Self {
        // Conversations start a few minutes apart and end before now.
        let now = Utc::now() - Duration::minutes(4 * conversations as i64 + 2);
        Self {
            now,
            rng: Rng(0x6772_6166_692d_7273), // "grafi-rs"
        }
    }

    fn advance_micros(&mut self, lo: u64, hi: u64) {
        self.now += Duration::microseconds(self.rng.range(lo, hi) as i64);
    }

    fn advance_millis(&mut self, lo: u64, hi: u64) {
        self.advance_micros(lo * 1000, hi * 1000);
    }

    /// A message written now (grafi stamps messages in nanoseconds).
    fn message(&self, mut message: Message) -> Message {
        let nanos = self.now.timestamp_nanos_opt().unwrap_or_default();
        message.timestamp = serde_json::Number::from(nanos);
        message
    }

    /// Stamps an event with the simulated clock.
    fn at_now(&self, mut event: Event) -> Event {
        if let Some(meta) = event.meta_mut() {
            meta.timestamp = Timestamp::from_utc(self.now);
        }
        event
    }

    fn conversation(&mut self, index: usize) -> ConversationRun {
        let (city, currency, forecast, high) = *self.rng.pick(CITIES);
        let user = USERS[index % USERS.len()].to_owned();
        let id = new_id();
        let kind = index % 4;
        let (agent, scripts) = match kind {
            0 => (
                Agent::new(
                    "Planner",
                    "TravelConcierge",
                    "travel_react_workflow",
                    "TravelToolkit",
                ),
                vec![
                    self.weather_script(city, forecast, high),
                    self.currency_script(currency),
                ],
            ),
            1 => (
                Agent::new(
                    "Support",
                    "HeliosSupportAgent",
                    "support_react_workflow",
                    "OrderToolkit",
                ),
                vec![self.order_script(), self.rate_limited_script()],
            ),
            2 => (
                Agent::new(
                    "Research",
                    "ResearchAssistant",
                    "research_react_workflow",
                    "WebSearchToolkit",
                ),
                vec![self.search_timeout_script(), self.no_tool_script()],
            ),
            _ => (
                Agent::new(
                    "Planner",
                    "TravelConcierge",
                    "travel_react_workflow",
                    "TravelToolkit",
                ),
                vec![self.parallel_weather_script(city, forecast, high)],
            ),
        };
        let mut requests = Vec::new();
        for script in scripts {
            requests.push(self.request(&agent, &id, &user, script));
            // The user reads the answer and types the next question.
            self.advance_millis(15_000, 80_000);
        }
        self.advance_millis(60_000, 180_000);
        ConversationRun {
            id,
            user,
            assistant: agent.assistant.name.clone(),
            assistant_type: agent.assistant.type_name.clone(),
            requests,
        }
    }

    fn weather_script(&mut self, city: &str, forecast: &str, high: f64) -> Script {
        let args = json!({"city": city, "date": "tomorrow", "unit": "celsius"}).to_string();
        let low = high - 7.0;
        let result = json!({"location": city, "forecast": forecast, "high_c": high, "low_c": low,
            "precip_mm": 4.5, "humidity_pct": 71});
        let result = python_json::to_string(&result);
        Script {
            question: format!("What's the weather in {city} tomorrow?"),
            turns: vec![
                Turn::Call(vec![("get_weather".into(), args, result)], Ok(())),
                Turn::Answer(format!(
                    "Tomorrow in {city} it will be {forecast}, between {low:.0} and {high:.0} °C."
                )),
            ],
        }
    }

    fn currency_script(&mut self, currency: &str) -> Script {
        let amount = 50 * self.rng.range(2, 10);
        let rate = match currency {
            "JPY" => 157.42,
            "EUR" => 0.92,
            "ISK" => 138.1,
            "SGD" => 1.35,
            _ => 1.37,
        };
        let converted = amount as f64 * rate;
        let args = json!({"amount": amount, "from": "USD", "to": currency}).to_string();
        let result = json!({"amount": amount, "from": "USD", "to": currency, "rate": rate,
            "converted": (converted * 100.0).round() / 100.0});
        let result = python_json::to_string(&result);
        Script {
            question: format!("And how much is {amount} USD in {currency}?"),
            turns: vec![
                Turn::Call(vec![("convert_currency".into(), args, result)], Ok(())),
                Turn::Answer(format!(
                    "{amount} USD is about {converted:.2} {currency} at today's rate of {rate}."
                )),
            ],
        }
    }

    fn order_script(&mut self) -> Script {
        let order = self.rng.range(4000, 9999);
        let args = json!({"order_id": format!("HX-{order}")}).to_string();
        let result = json!({"order_id": format!("HX-{order}"), "status": "in_transit",
            "carrier": "DHL", "eta": "2 business days"});
        let result = python_json::to_string(&result);
        Script {
            question: format!("Where is my order HX-{order}? It was due yesterday."),
            turns: vec![
                Turn::Call(vec![("lookup_order".into(), args, result)], Ok(())),
                Turn::Answer(format!(
                    "Order HX-{order} is in transit with DHL and should arrive within 2 business days. Sorry for the delay!"
                )),
            ],
        }
    }

    fn rate_limited_script(&mut self) -> Script {
        Script {
            question: "Can you refund the shipping fee for the delay?".into(),
            turns: vec![Turn::LlmError(
                "OpenAI API error: Error code: 429 - Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29874. Please try again in 1.2s.".into(),
            )],
        }
    }

    fn search_timeout_script(&mut self) -> Script {
        let args = json!({"query": "solid-state battery energy density 2025 benchmarks", "max_results": 5}).to_string();
        Script {
            question: "Find the latest energy-density benchmarks for solid-state batteries.".into(),
            turns: vec![Turn::Call(
                vec![("web_search".into(), args, String::new())],
                Err(
                    "TimeoutError: search provider did not respond within 10.0s (attempt 3/3)"
                        .into(),
                ),
            )],
        }
    }

    fn no_tool_script(&mut self) -> Script {
        Script {
            question: "Never mind the search, just summarise what you know.".into(),
            turns: vec![Turn::Answer(
                "Solid-state cells promise roughly 350–500 Wh/kg by replacing the liquid electrolyte with a solid one; most are still in pilot production.".into(),
            )],
        }
    }

    fn parallel_weather_script(&mut self, city: &str, forecast: &str, high: f64) -> Script {
        let other = if city == "Lisbon" { "Rome" } else { "Lisbon" };
        let call = |c: &str, f: &str, h: f64| {
            (
                "get_weather".to_owned(),
                json!({"city": c, "date": "saturday", "unit": "celsius"}).to_string(),
                python_json::to_string(&json!({"location": c, "forecast": f, "high_c": h})),
            )
        };
        Script {
            question: format!("Compare Saturday's weather in {city} and {other}."),
            turns: vec![
                Turn::Call(
                    vec![
                        call(city, forecast, high),
                        call(other, "sunny and dry", 29.0),
                    ],
                    Ok(()),
                ),
                Turn::Answer(format!(
                    "Saturday: {city} will be {forecast} (high {high:.0} °C); {other} sunny and dry (high 29 °C)."
                )),
            ],
        }
    }

    /// One request through the ReAct workflow, events in grafi's recording order.
    fn request(
        &mut self,
        agent: &Agent,
        conversation: &str,
        user: &str,
        script: Script,
    ) -> RequestRun {
        let request_id = new_id();
        let ctx = InvokeContext::new(conversation, &request_id)
            .with_user_id(user)
            .with_kwarg("locale", json!("en-GB"))
            .with_kwarg("channel", json!("web"));
        let mut events = Vec::new();
        let question = vec![self.message(Message::user(&script.question))];

        events.push(self.at_now(Event::assistant_invoke(
            ctx.clone(),
            agent.assistant.clone(),
            &question,
        )));
        self.advance_micros(60, 450);
        events.push(self.at_now(Event::workflow_invoke(
            ctx.clone(),
            agent.workflow.clone(),
            &question,
        )));
        self.advance_micros(100, 400);
        events.push(self.at_now(Event::publish_to_topic(
            ctx.clone(),
            (&agent.workflow.name, &agent.workflow.type_name),
            ("agent_input_topic", 0),
            vec![],
            &question,
        )));

        // What the LLM node reads next: (topic, offset, messages).
        let mut pending = ("agent_input_topic", 0i64, question.clone());
        let mut history = question.clone();
        let mut call_offset = 0i64;
        for turn in script.turns {
            // The LLM node consumes its input and calls the model.
            self.advance_micros(200, 700);
            let consumed = self.consume(&ctx, &agent.llm_node, pending.0, pending.1, &pending.2);
            self.advance_micros(80, 300);
            events.push(self.at_now(Event::node_invoke(
                ctx.clone(),
                agent.llm_node.clone(),
                vec![consumed.clone()],
            )));
            self.advance_micros(150, 400);
            events.push(self.at_now(Event::tool_invoke(ctx.clone(), agent.llm.clone(), &history)));
            match turn {
                Turn::LlmError(error) => {
                    self.advance_millis(110, 320);
                    self.fail_chain(
                        &mut events,
                        &ctx,
                        agent,
                        &history,
                        &question,
                        consumed,
                        &error,
                        true,
                    );
                    break;
                }
                Turn::Answer(text) => {
                    self.advance_millis(900, 2600);
                    let answer = vec![self.message(Message::assistant(text))];
                    events.push(self.at_now(Event::tool_respond(
                        ctx.clone(),
                        agent.llm.clone(),
                        &history,
                        &answer,
                    )));
                    self.advance_micros(100, 450);
                    events.push(self.at_now(Event::node_respond(
                        ctx.clone(),
                        agent.llm_node.clone(),
                        vec![consumed.clone()],
                        &answer,
                    )));
                    events.push(Event::ConsumeFromTopic(consumed.clone()));
                    self.advance_micros(100, 300);
                    events.push(self.at_now(Event::output_topic(
                        ctx.clone(),
                        (&agent.llm_node.name, &agent.llm_node.type_name),
                        ("agent_output_topic", 0),
                        vec![consumed.meta.event_id.clone()],
                        &answer,
                    )));
                    self.advance_micros(100, 300);
                    let out = self.consume(
                        &ctx,
                        &agent.workflow_as_node(),
                        "agent_output_topic",
                        0,
                        &answer,
                    );
                    events.push(Event::ConsumeFromTopic(out));
                    self.advance_micros(150, 400);
                    events.push(self.at_now(Event::workflow_respond(
                        ctx.clone(),
                        agent.workflow.clone(),
                        &question,
                        &answer,
                    )));
                    self.advance_micros(50, 200);
                    events.push(self.at_now(Event::assistant_respond(
                        ctx.clone(),
                        agent.assistant.clone(),
                        &question,
                        &answer,
                    )));
                    break;
                }
                Turn::Call(calls, outcome) => {
                    self.advance_millis(700, 1900);
                    let tool_calls: Vec<_> = calls
                        .iter()
                        .map(|(name, args, _)| {
                            json!({"id": self.rng.call_id(), "type": "function",
                                "function": {"name": name, "arguments": args}})
                        })
                        .collect();
                    let mut call_message = self.message(Message::assistant(""));
                    call_message.content = Content::Null;
                    call_message.tool_calls = Some(serde_json::Value::Array(tool_calls.clone()));
                    let call_messages = vec![call_message];
                    events.push(self.at_now(Event::tool_respond(
                        ctx.clone(),
                        agent.llm.clone(),
                        &history,
                        &call_messages,
                    )));
                    self.advance_micros(100, 450);
                    events.push(self.at_now(Event::node_respond(
                        ctx.clone(),
                        agent.llm_node.clone(),
                        vec![consumed.clone()],
                        &call_messages,
                    )));
                    events.push(Event::ConsumeFromTopic(consumed.clone()));
                    self.advance_micros(100, 300);
                    events.push(self.at_now(Event::publish_to_topic(
                        ctx.clone(),
                        (&agent.llm_node.name, &agent.llm_node.type_name),
                        ("function_call_topic", call_offset),
                        vec![consumed.meta.event_id.clone()],
                        &call_messages,
                    )));

                    // The function node runs the calls.
                    self.advance_micros(200, 600);
                    let f_consumed = self.consume(
                        &ctx,
                        &agent.function_node,
                        "function_call_topic",
                        call_offset,
                        &call_messages,
                    );
                    self.advance_micros(80, 300);
                    events.push(self.at_now(Event::node_invoke(
                        ctx.clone(),
                        agent.function_node.clone(),
                        vec![f_consumed.clone()],
                    )));
                    self.advance_micros(150, 400);
                    events.push(self.at_now(Event::tool_invoke(
                        ctx.clone(),
                        agent.toolkit.clone(),
                        &call_messages,
                    )));
                    if let Err(error) = outcome {
                        self.advance_millis(10_000, 10_250);
                        self.fail_chain(
                            &mut events,
                            &ctx,
                            agent,
                            &call_messages,
                            &question,
                            f_consumed,
                            &error,
                            false,
                        );
                        break;
                    }
                    self.advance_millis(120, 1100);
                    let results: Vec<Message> = calls
                        .iter()
                        .zip(&tool_calls)
                        .map(|((_, _, result), call)| {
                            let id = call.get("id").and_then(|v| v.as_str()).unwrap_or_default();
                            self.message(Message::tool(id, result.clone()))
                        })
                        .collect();
                    events.push(self.at_now(Event::tool_respond(
                        ctx.clone(),
                        agent.toolkit.clone(),
                        &call_messages,
                        &results,
                    )));
                    self.advance_micros(100, 400);
                    events.push(self.at_now(Event::node_respond(
                        ctx.clone(),
                        agent.function_node.clone(),
                        vec![f_consumed.clone()],
                        &results,
                    )));
                    events.push(Event::ConsumeFromTopic(f_consumed.clone()));
                    self.advance_micros(100, 300);
                    events.push(self.at_now(Event::publish_to_topic(
                        ctx.clone(),
                        (&agent.function_node.name, &agent.function_node.type_name),
                        ("function_result_topic", call_offset),
                        vec![f_consumed.meta.event_id.clone()],
                        &results,
                    )));
                    history.extend(call_messages);
                    history.extend(results.iter().cloned());
                    pending = ("function_result_topic", call_offset, results);
                    call_offset += 1;
                }
            }
        }
        RequestRun {
            id: request_id,
            question: script.question,
            events,
        }
    }

    fn consume(
        &self,
        ctx: &InvokeContext,
        node: &NodeInfo,
        topic: &str,
        offset: i64,
        messages: &[Message],
    ) -> ConsumeFromTopic {
        let mut consumed = ConsumeFromTopic::new(
            ctx.clone(),
            (&node.name, &node.type_name),
            (topic, offset),
            messages,
        );
        consumed.meta.timestamp = Timestamp::from_utc(self.now);
        consumed
    }

    /// grafi's failure chain: the failing tool, its node, the workflow, the assistant.
    #[allow(clippy::too_many_arguments)]
    fn fail_chain(
        &mut self,
        events: &mut Vec<Event>,
        ctx: &InvokeContext,
        agent: &Agent,
        tool_input: &[Message],
        question: &[Message],
        consumed: ConsumeFromTopic,
        error: &str,
        llm: bool,
    ) {
        let (tool, node) = if llm {
            (&agent.llm, &agent.llm_node)
        } else {
            (&agent.toolkit, &agent.function_node)
        };
        events.push(self.at_now(Event::tool_failed(
            ctx.clone(),
            tool.clone(),
            tool_input,
            error,
        )));
        self.advance_micros(100, 400);
        events.push(self.at_now(Event::node_failed(
            ctx.clone(),
            node.clone(),
            vec![consumed],
            error,
        )));
        self.advance_micros(100, 400);
        events.push(self.at_now(Event::workflow_failed(
            ctx.clone(),
            agent.workflow.clone(),
            question,
            error,
        )));
        self.advance_micros(30, 120);
        events.push(self.at_now(Event::assistant_failed(
            ctx.clone(),
            agent.assistant.clone(),
            question,
            error,
        )));
    }
}

impl Agent {
    /// The workflow as a topic consumer (it reads `agent_output_topic`).
    fn workflow_as_node(&self) -> NodeInfo {
        NodeInfo {
            id: self.workflow.id.clone(),
            name: self.workflow.name.clone(),
            type_name: self.workflow.type_name.clone(),
            ..NodeInfo::default()
        }
    }
}

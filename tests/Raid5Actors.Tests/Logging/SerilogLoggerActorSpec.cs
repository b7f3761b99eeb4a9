using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Raid5Actors.Logging;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;
using Xunit.Abstractions;
using LogEvent = Serilog.Events.LogEvent;

namespace Raid5Actors.Tests.Logging;

/// <summary>
/// <see cref="Log.Logger"/> is process-global: the specs that replace it run in this collection,
/// alone (no parallelism), and the fixture puts the previous logger back.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerilogGlobalLoggerCollection : ICollectionFixture<CollectingSerilog>
{
    public const string Name = "Serilog global logger";
}

/// <summary>Tees <see cref="Log.Logger"/> into an in-memory sink for the collection's lifetime.</summary>
public sealed class CollectingSerilog : IDisposable
{
    private readonly ILogger _previous;
    private readonly Logger _collecting;
    private readonly ListSink _sink = new();

    public CollectingSerilog()
    {
        _previous = Log.Logger;
        _collecting = new LoggerConfiguration()
            .MinimumLevel.Verbose()
            .WriteTo.Logger(_previous)
            .WriteTo.Sink(_sink)
            .CreateLogger();
        Log.Logger = _collecting;
    }

    /// <summary>Events whose <c>ActorPath</c> property is <paramref name="actorPath"/>.</summary>
    public IReadOnlyList<LogEvent> From(string actorPath) =>
        _sink.Events
            .Where(e => e.Properties.TryGetValue("ActorPath", out var path) && Scalar(path) is string s && s == actorPath)
            .ToList();

    public void Dispose()
    {
        Log.Logger = _previous;
        _collecting.Dispose();
    }

    public static object? Scalar(LogEventPropertyValue value) => ((ScalarValue)value).Value;

    // Not IDisposable: the logger disposes its sinks.
    private sealed class ListSink : ILogEventSink
    {
        private const int kMaxEvents = 100_000;
        public readonly ConcurrentQueue<LogEvent> Events = new();

        public void Emit(LogEvent logEvent)
        {
            if (Events.Count < kMaxEvents)
                Events.Enqueue(logEvent);
        }
    }
}

[Collection(SerilogGlobalLoggerCollection.Name)]
public sealed class SerilogLoggerActorSpec : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config SpecConfig = Raid5Logging.LoggerConfig
        .WithFallback(ConfigurationFactory.ParseString("akka.loglevel = DEBUG"));

    private readonly CollectingSerilog _serilog;

    public SerilogLoggerActorSpec(CollectingSerilog serilog, ITestOutputHelper output)
        : base(SpecConfig, nameof(SerilogLoggerActorSpec), output)
    {
        _serilog = serilog;
    }

    [Fact]
    public void The_system_starts_with_the_logger_configured()
    {
        var loggers = Sys.Settings.Config.GetStringList("akka.loggers");
        Assert.Equal(new[] { Raid5Logging.LoggerTypeName }, loggers);
        Assert.Equal(TimeSpan.FromSeconds(30), Sys.Settings.LoggerStartTimeout);
    }

    [Fact]
    public void InitializeLogger_is_answered_with_LoggerInitialized()
    {
        var logger = Sys.ActorOf(Props.Create<SerilogLoggerActor>());
        logger.Tell(new InitializeLogger(Sys.EventStream), TestActor);
        ExpectMsg<LoggerInitialized>();
    }

    [Fact]
    public void A_warning_with_named_arguments_arrives_as_a_structured_Serilog_warning()
    {
        var chatty = Sys.ActorOf(Props.Create<ChattyActor>(), "chatty-" + Guid.NewGuid().ToString("N"));
        chatty.Tell(new ChattyActor.Warn("sdb", 3));

        var logEvent = AwaitSingle(chatty, LogEventLevel.Warning);
        Assert.Equal("disk {Disk} failed after {Retries} retries", logEvent.MessageTemplate.Text);
        Assert.Equal("disk sdb failed after 3 retries", Render(logEvent));
        // Serilog's own RenderMessage quotes strings; sinks print {Message:lj} without the quotes.
        Assert.Equal("disk \"sdb\" failed after 3 retries", logEvent.RenderMessage());
        Assert.Equal("sdb", CollectingSerilog.Scalar(logEvent.Properties["Disk"]));
        Assert.Equal(3, CollectingSerilog.Scalar(logEvent.Properties["Retries"]));
        AssertSource(chatty, logEvent);
        Assert.Null(logEvent.Exception);
    }

    [Fact]
    public void An_error_carries_its_exception_and_positional_arguments()
    {
        var chatty = Sys.ActorOf(Props.Create<ChattyActor>(), "chatty-" + Guid.NewGuid().ToString("N"));
        var cause = new IOException("member sdc: read error");
        chatty.Tell(new ChattyActor.Fail(cause, 42));

        var logEvent = AwaitSingle(chatty, LogEventLevel.Error);
        Assert.Equal("stripe 42 (0x002A) lost parity", Render(logEvent));
        Assert.Same(cause, logEvent.Exception);
        AssertSource(chatty, logEvent);
    }

    [Fact]
    public void Info_and_debug_map_to_Information_and_Debug()
    {
        var chatty = Sys.ActorOf(Props.Create<ChattyActor>(), "chatty-" + Guid.NewGuid().ToString("N"));
        chatty.Tell(new ChattyActor.Chat("resync 50% done", "bitmap swept"));

        var info = AwaitSingle(chatty, LogEventLevel.Information);
        var debug = AwaitSingle(chatty, LogEventLevel.Debug);
        Assert.Equal("resync 50% done {braces}", Render(info));
        Assert.Equal("bitmap swept", Render(debug));
        AssertSource(chatty, info);
        AssertSource(chatty, debug);
    }

    private LogEvent AwaitSingle(IActorRef source, LogEventLevel level)
    {
        LogEvent? found = null;
        AwaitAssert(() => found = Assert.Single(_serilog.From(source.Path.ToString()), e => e.Level == level),
            TimeSpan.FromSeconds(10));
        return found!;
    }

    private static void AssertSource(IActorRef source, LogEvent logEvent)
    {
        Assert.Equal(typeof(ChattyActor).FullName, CollectingSerilog.Scalar(logEvent.Properties["SourceContext"]));
        Assert.Equal(source.Path.ToString(), CollectingSerilog.Scalar(logEvent.Properties["ActorPath"]));
    }

    // What a sink with Serilog's default {Message:lj} prints.
    private static string Render(LogEvent logEvent)
    {
        var writer = new StringWriter();
        new MessageTemplateTextFormatter("{Message:lj}").Format(logEvent, writer);
        return writer.ToString();
    }

    private sealed class ChattyActor : ReceiveActor
    {
        public sealed record Warn(string Disk, int Retries);

        public sealed record Fail(Exception Cause, int Stripe);

        public sealed record Chat(string Info, string Debug);

        private readonly ILoggingAdapter _log = Context.GetLogger();

        public ChattyActor()
        {
            Receive<Warn>(m => _log.Warning("disk {Disk} failed after {Retries} retries", m.Disk, m.Retries));
            Receive<Fail>(m => _log.Error(m.Cause, "stripe {0} (0x{0:X4}) lost parity", m.Stripe));
            Receive<Chat>(m =>
            {
                _log.Info("{0} {{braces}}", m.Info);
                _log.Debug(m.Debug);
            });
        }
    }
}

using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using Serilog.Events;
using AkkaLogEvent = Akka.Event.LogEvent;
using AkkaLogLevel = Akka.Event.LogLevel;
using SerilogLogEvent = Serilog.Events.LogEvent;

namespace Raid5Actors.Logging;

/// <summary>
/// Akka logger that forwards the event stream's log events to Serilog's <see cref="Serilog.Log.Logger"/>
/// (Akka.Logger.Serilog is not on the package mirror). Enable it with <see cref="Raid5Logging.LoggerConfig"/>.
///
/// Each event keeps Akka's timestamp and carries <c>SourceContext</c> (the logging class, as
/// <c>ForContext&lt;T&gt;()</c> would set it), <c>ActorPath</c> (Akka's log source), <c>Thread</c> and the
/// exception. The message is handed to Serilog as a message template with its arguments: Akka 1.5's
/// default <see cref="SemanticLogMessageFormatter"/> accepts the same holes as Serilog (positional
/// <c>{0}</c>, named <c>{Disk}</c>, <c>{0:X4}</c>, <c>{{</c>), so events stay structured and group by
/// template, and sinks that render <c>{Message:lj}</c> (Serilog's Console and File defaults) print the
/// same text as Akka would. Only <see cref="SerilogLogEvent.RenderMessage(IFormatProvider)"/> differs:
/// it quotes string arguments, as it does for any Serilog event.
///
/// <see cref="Serilog.Log.Logger"/> is read per event, so a logger replaced after startup is honoured.
/// </summary>
public sealed class SerilogLoggerActor : ActorBase, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    protected override bool Receive(object message)
    {
        switch (message)
        {
            case InitializeLogger:
                Sender.Tell(new LoggerInitialized());
                return true;
            case AkkaLogEvent logEvent:
                Write(Serilog.Log.Logger, logEvent);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Writes one Akka log event to <paramref name="logger"/>.</summary>
    internal static void Write(Serilog.ILogger logger, AkkaLogEvent logEvent)
    {
        var level = ToSerilog(logEvent.LogLevel());
        if (!logger.IsEnabled(level))
            return;

        var (template, args) = logEvent.Message switch
        {
            LogMessage message => (message.Format, message.Parameters().ToArray()),
            // A bare object published on the stream: its text is data, never a template.
            var other => ("{Message:l}", new object?[] { other?.ToString() ?? "" }),
        };

        if (!logger.BindMessageTemplate(template, args, out var parsed, out var bound))
            return;

        var properties = new List<LogEventProperty>(bound);
        var sourceContext = logEvent.LogClass?.FullName ?? logEvent.LogSource;
        Add(logger, properties, Serilog.Core.Constants.SourceContextPropertyName, sourceContext);
        Add(logger, properties, "ActorPath", logEvent.LogSource);
        Add(logger, properties, "Thread", logEvent.Thread.ManagedThreadId);

        logger.Write(new SerilogLogEvent(
            new DateTimeOffset(logEvent.Timestamp), level, logEvent.Cause, parsed, properties));
    }

    private static void Add(Serilog.ILogger logger, List<LogEventProperty> properties, string name, object? value)
    {
        // A template hole of the same name wins: it is what the call site meant.
        if (properties.Exists(p => p.Name == name))
            return;
        if (logger.BindProperty(name, value, destructureObjects: false, out var property))
            properties.Add(property);
    }

    private static LogEventLevel ToSerilog(AkkaLogLevel level) => level switch
    {
        AkkaLogLevel.DebugLevel => LogEventLevel.Debug,
        AkkaLogLevel.InfoLevel => LogEventLevel.Information,
        AkkaLogLevel.WarningLevel => LogEventLevel.Warning,
        AkkaLogLevel.ErrorLevel => LogEventLevel.Error,
        _ => LogEventLevel.Information,
    };
}

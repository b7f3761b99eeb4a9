using Akka.Configuration;

namespace Raid5Actors.Logging;

/// <summary>
/// Routes Akka's logging to Serilog through <see cref="SerilogLoggerActor"/> (DESIGN section 7).
/// Configure <see cref="Serilog.Log.Logger"/> before the ActorSystem starts and put
/// <see cref="LoggerConfig"/> in front of the system's config (<c>LoggerConfig.WithFallback(rest)</c>).
/// </summary>
/// <remarks>
/// Apps built on Akka.Hosting can bridge through Microsoft.Extensions.Logging instead: register
/// Serilog on the host's logging builder with Serilog.Extensions.Logging
/// (<c>services.AddLogging(l =&gt; l.ClearProviders().AddSerilog())</c>) and let Akka log to the
/// <c>ILoggerFactory</c> with
/// <c>builder.ConfigureLoggers(l =&gt; { l.ClearLoggers(); l.AddLoggerFactory(); })</c>
/// on the <c>AkkaConfigurationBuilder</c>. Use one bridge or the other, not both, or every event is
/// written twice.
/// </remarks>
public static class Raid5Logging
{
    /// <summary>The logger actor's type name as <c>akka.loggers</c> expects it.</summary>
    public const string LoggerTypeName = "Raid5Actors.Logging.SerilogLoggerActor, Raid5Actors";

    /// <summary>
    /// <c>akka.loggers</c> set to <see cref="SerilogLoggerActor"/> alone (no console logger), with a
    /// startup timeout long enough for a loaded test machine.
    /// </summary>
    public static Config LoggerConfig { get; } = ConfigurationFactory.ParseString($$"""
        akka {
          loggers = ["{{LoggerTypeName}}"]
          # How long the ActorSystem waits for the logger to answer InitializeLogger. Akka.NET reads
          # this singular key (akka.logger-startup-timeout, default 5s); "loggers-startup-timeout"
          # is ignored.
          logger-startup-timeout = 30s
        }
        """);
}

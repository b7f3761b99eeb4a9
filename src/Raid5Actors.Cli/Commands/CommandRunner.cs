using System.CommandLine;
using System.Net.Sockets;
using Akka.Configuration;
using Serilog;
using Serilog.Events;

namespace Raid5Actors.Cli.Commands;

/// <summary>
/// Runs a command's body with what every command needs: logging to standard error, Ctrl-C as a
/// cancellation, and errors turned into one clear line on standard error and an exit code
/// (<see cref="ExitCodes"/>) instead of a stack trace.
/// </summary>
internal static class CommandRunner
{
    public static void SetRunner(this Command command, Func<CliSession, Task<int>> run, LogEventLevel quietLevel = LogEventLevel.Warning)
    {
        command.SetAction(async (parse, _) =>
        {
            var verbose = parse.GetValue(CommonOptions.Verbose);
            Log.Logger = new LoggerConfiguration()
                .MinimumLevel.Is(verbose ? LogEventLevel.Debug : quietLevel)
                .MinimumLevel.Override("Akka", verbose ? LogEventLevel.Information : LogEventLevel.Warning)
                .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose, outputTemplate: "{Timestamp:HH:mm:ss} {Level:u3} {Message:lj}{NewLine}{Exception}")
                .CreateLogger();
            using var interrupt = new InterruptSignal();
            try
            {
                return await run(new CliSession(parse, interrupt.Token)).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (interrupt.Token.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync($"raid5 {command.Name}: interrupted").ConfigureAwait(false);
                return ExitCodes.kInterrupted;
            }
            catch (CliUsageException e)
            {
                await Console.Error.WriteLineAsync($"raid5 {command.Name}: {e.Message}\nTry 'raid5 {command.Name} --help'.").ConfigureAwait(false);
                return ExitCodes.kUsage;
            }
            catch (Exception e) when (IsOperational(e))
            {
                var message = OperatorMessage(e);
                await Console.Error.WriteLineAsync($"raid5 {command.Name}: error: {message}{Hint(e)}").ConfigureAwait(false);
                if (verbose)
                    await Console.Error.WriteLineAsync(e.ToString()).ConfigureAwait(false);
                return ExitCodes.kFailed;
            }
            catch (Exception e)
            {
                // A bug, not an operator's mistake: say so, with everything needed to report it.
                await Console.Error.WriteLineAsync($"raid5 {command.Name}: internal error (please report): {e}").ConfigureAwait(false);
                return ExitCodes.kFailed;
            }
            finally
            {
                await Log.CloseAndFlushAsync().ConfigureAwait(false);
            }
        });
    }

    /// <summary>Errors that mean "this cannot be done" rather than a bug: their message is the whole story.</summary>
    private static bool IsOperational(Exception e) => e is Raid5Exception or ArgumentException or IOException or UnauthorizedAccessException
        or TimeoutException or SocketException or NotSupportedException or ConfigurationException or InvalidOperationException
        or FormatException or OverflowException or Md.MdException;

    // ArgumentException appends " (Parameter 'x')" and the actual value: names from code, not for operators.
    private static string OperatorMessage(Exception e)
    {
        var message = e.Message;
        if (e is ArgumentException { ParamName: { } name })
            message = message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        if (e is ArgumentOutOfRangeException)
            message = message.Split(Environment.NewLine + "Actual value was", 2)[0];
        return message;
    }

    // The engine's message names its API option; a CLI user needs the flag that does the same.
    private static string Hint(Exception e) => (e switch
    {
        Raid5OpenException open => open.Override,
        Disks.Raid5MemberException member => member.Override,
        _ => Raid5OpenOverride.None,
    }) switch
    {
        Raid5OpenOverride.AllowDegraded => "\nhint: raid5 assemble (or serve) --allow-degraded starts it without the missing member.",
        Raid5OpenOverride.Force => "\nhint: raid5 assemble (or serve) --force starts it anyway; read the message above first.",
        _ => "",
    };
}

/// <summary>
/// SIGINT and SIGTERM cancel the command's token so it can stop cleanly (flush, close the array,
/// keep sync checkpoints); a second SIGINT kills the process the usual way.
/// </summary>
internal sealed class InterruptSignal : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly List<System.Runtime.InteropServices.PosixSignalRegistration> _registrations = [];

    public InterruptSignal()
    {
        foreach (var signal in new[] { System.Runtime.InteropServices.PosixSignal.SIGINT, System.Runtime.InteropServices.PosixSignal.SIGTERM })
        {
            _registrations.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
            {
                if (_source.IsCancellationRequested)
                    return; // second signal: default handling ends the process
                context.Cancel = true;
                _source.Cancel();
            }));
        }
    }

    public CancellationToken Token => _source.Token;

    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
        _source.Dispose();
    }
}

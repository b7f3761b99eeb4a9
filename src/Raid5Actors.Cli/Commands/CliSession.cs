using System.CommandLine;
using System.Text.Json;
using Akka.Configuration;
using Raid5Actors.Cli.Control;
using Raid5Actors.Cli.Output;
using Spectre.Console;

namespace Raid5Actors.Cli.Commands;

/// <summary>What one command invocation works with: its parse result, output, configuration and the Ctrl-C token.</summary>
internal sealed class CliSession(ParseResult parse, CancellationToken cancellation)
{
    public static readonly JsonSerializerOptions JsonOutput = new(ControlProtocol.Json) { WriteIndented = true };

    public ParseResult Parse => parse;

    public CancellationToken Cancellation => cancellation;

    public TextWriter Out => Console.Out;

    public IAnsiConsole Terminal { get; } = AnsiConsole.Console;

    public Config LoadConfig(string? folder) =>
        CliConfig.Load(folder, parse.GetValue(CommonOptions.Config) ?? [], parse.GetValue(CommonOptions.Set) ?? []);

    public TimeSpan PollInterval(Config config) => config.GetTimeSpan("raid5.cli.poll-interval", TimeSpan.FromMilliseconds(500));

    /// <param name="toStandardError">For commands whose standard output is JSON: progress must not mix into it.</param>
    public SyncProgress Progress(Config config, bool toStandardError = false) =>
        toStandardError ? new(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }), Console.Error, PollInterval(config))
            : new(Terminal, Out, PollInterval(config));

    /// <summary>
    /// The array in <paramref name="folder"/>: through the control socket of the process serving it,
    /// or opened here when none does (refused, naming the holder, when another process has it open without serving it).
    /// </summary>
    /// <param name="requireServer">Refuse (a usage error naming <paramref name="why"/>) instead of opening the array here.</param>
    public async Task<IArrayHandle> OpenArrayAsync(string folder, Config config, bool requireServer = false, string? why = null)
    {
        // The server answers within its own request timeout; allow for that plus the hop.
        var timeout = Raid5Actors.Configuration.Raid5Settings.Create(config).RequestTimeout + TimeSpan.FromSeconds(10);
        if (await RemoteArrayHandle.TryConnectAsync(folder, timeout, cancellation).ConfigureAwait(false) is { } remote)
            return remote;
        if (requireServer)
            throw new CliUsageException($"{why} needs a process serving {folder} (raid5 serve); nothing serves it");
        var array = await Raid5Array.OpenAsync(folder, new Raid5ArrayOptions
        {
            Config = config,
            AllowDegraded = parse.GetValue(CommonOptions.AllowDegraded),
            Force = parse.GetValue(CommonOptions.Force),
        }).ConfigureAwait(false);
        return new LocalArrayHandle(array, folder, servedBy: null, ownsArray: true);
    }

    public void WriteJson<T>(T value) => Out.WriteLine(JsonSerializer.Serialize(value, JsonOutput));
}
